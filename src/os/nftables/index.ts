/**
 * nftables for the OS layer: plans (pure: checked builders producing libnftables JSON) and
 * their application (one atomic libnftables call per plan, in-process, per namespace).
 */
export {
  applyNft,
  libnftablesVersion,
  listNft,
  NftHandle,
  type NftInput,
  type NftListedChain,
  type NftListedRule,
  type NftListedSet,
  type NftListedTable,
  type NftRuleset,
  type NftTransaction,
  nftElements,
  observeNftTransactions,
} from './apply.ts';
export { applyNftAsync } from './async.ts';
export { expr, stmt, verdict } from './expr.ts';
export { nftGeneration, nftRuleCounts } from './inspect.ts';
export {
  type BaseChainSpec,
  NFT_PRIO,
  type NftMapSpec,
  NftPlan,
  type NftSetDef,
  type NftSetSpec,
  nftMap,
  nftSet,
  type TableRef,
} from './plan.ts';
export type * from './types.ts';
export { L4_PROTOS, NftablesPlanError, type NftL4Proto } from './validate.ts';
