export { OVERLAY, OVERLAY_MARK, OverlayDriver, OverlayStateError, VXLAN_OVERHEAD } from './driver.ts';
