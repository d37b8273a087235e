import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileTemplate, TemplateError } from '../../src/cli/template.ts';

const run = (t: string, data: unknown) => compileTemplate(t).execute(data);

const net = {
  Name: 'web',
  Id: '25ac1ba8ef2f202db252f2f641a10bb2683d0e88e5344546af558a13dafa22d5',
  Driver: 'bridge',
  EnableIPv6: false,
  IPAM: { Driver: 'default', Config: [{ Subnet: '10.10.0.0/24', Gateway: '10.10.0.1' }] },
  Containers: {
    b2: { Name: 'c2', IPv4Address: '10.10.0.2/24' },
    a1: { Name: 'app', IPv4Address: '10.10.0.10/24' },
  },
  Options: { 'com.docker.network.driver.mtu': '1500' },
  Labels: { team: 'web' },
  Count: 3,
};

test('fields, nested fields, dot, $ and literals', () => {
  assert.equal(run('{{.Name}}', net), 'web');
  assert.equal(run('name={{ .Name }} driver={{.Driver}}', net), 'name=web driver=bridge');
  assert.equal(run('{{.IPAM.Driver}}', net), 'default');
  assert.equal(run('{{.Labels.team}}', net), 'web');
  assert.equal(run('{{.Labels.missing}}', net), '<no value>');
  assert.equal(run('{{.EnableIPv6}} {{.Count}}', net), 'false 3');
  assert.equal(run('{{.IPAM.Config}}', net), '[map[Gateway:10.10.0.1 Subnet:10.10.0.0/24]]');
  assert.equal(run('{{"a\\tb"}}|{{`raw\\t`}}|{{42}}|{{true}}', {}), 'a\tb|raw\\t|42|true');
  assert.equal(run('{{.}}', 'plain'), 'plain');
  assert.equal(run('{{with .IPAM}}{{$.Name}}:{{.Driver}}{{end}}', net), 'web:default');
});

test('json, index, join, split, lower, upper, title, pad, truncate, len, printf', () => {
  assert.equal(run('{{json .Labels}}', net), '{"team":"web"}');
  assert.equal(run('{{json .}}', { A: 1, B: 'x<y' }), '{"A":1,"B":"x<y"}');
  assert.equal(run('{{json .Nope}}', {}), 'null');
  assert.equal(run('{{index .Options "com.docker.network.driver.mtu"}}', net), '1500');
  assert.equal(run('{{(index .IPAM.Config 0).Subnet}}', net), '10.10.0.0/24');
  assert.equal(run('{{index . 1}}', ['a', 'b']), 'b');
  assert.equal(run('{{join . ", "}}', ['a', 'b', 'c']), 'a, b, c');
  assert.equal(run('{{split "a,b" ","}}', {}), '[a b]');
  assert.equal(
    run('{{lower "ABC"}} {{upper .Name}} {{.Name | upper}} {{title "hello world"}}', net),
    'abc WEB WEB Hello World',
  );
  assert.equal(run('[{{pad .Name 1 2}}] {{truncate .Id 12}}', net), '[ web  ] 25ac1ba8ef2f');
  assert.equal(run('{{len .Containers}} {{len .Name}}', net), '2 3');
  assert.equal(
    run('{{printf "%s has %d (%q) %-5s|%05d" .Name .Count "x" "ab" 42}}', net),
    'web has 3 ("x") ab   |00042',
  );
  assert.equal(run('{{print "a" 1 2 "b"}}', {}), 'a1 2b');
  assert.equal(run('{{println "a" 1}}', {}), 'a 1\n');
  assert.equal(run('{{slice .Name 1}}', net), 'eb');
});

test('if / else if / else, comparisons, and / or / not', () => {
  const t = '{{if eq .Driver "overlay"}}o{{else if eq .Driver "bridge"}}b{{else}}x{{end}}';
  assert.equal(run(t, net), 'b');
  assert.equal(run(t, { Driver: 'overlay' }), 'o');
  assert.equal(run(t, { Driver: 'host' }), 'x');
  assert.equal(run('{{if .EnableIPv6}}v6{{else}}v4{{end}}', net), 'v4');
  assert.equal(run('{{if and .Name (not .EnableIPv6)}}y{{end}}', net), 'y');
  assert.equal(run('{{or .Nope "dflt"}}', {}), 'dflt');
  assert.equal(run('{{if gt .Count 2}}big{{end}}{{if le .Count 2}}small{{end}}', net), 'big');
  assert.equal(run('{{if ne .Name "x"}}ne{{end}}{{if eq .Count 1 2 3}}in{{end}}', net), 'nein');
  assert.equal(run('{{if .Labels.nope}}y{{else}}n{{end}}', net), 'n');
});

test('range over lists and objects (sorted keys), with variables and else', () => {
  assert.equal(
    run('{{range .Containers}}{{.Name}} {{.IPv4Address}};{{end}}', net),
    'app 10.10.0.10/24;c2 10.10.0.2/24;',
  );
  assert.equal(run('{{range $id, $c := .Containers}}{{$id}}={{$c.Name}} {{end}}', net), 'a1=app b2=c2 ');
  assert.equal(run('{{range $i, $e := .}}{{$i}}:{{$e}} {{end}}', ['x', 'y']), '0:x 1:y ');
  assert.equal(run('{{range .}}{{.}}{{else}}none{{end}}', []), 'none');
  assert.equal(
    run('{{$n := .Name}}{{range .IPAM.Config}}{{$n}} {{.Subnet}}{{end}}', net),
    'web 10.10.0.0/24',
  );
  assert.equal(run('{{$x := 1}}{{$x = 2}}{{$x}}', {}), '2');
});

test('trim markers and comments', () => {
  assert.equal(run('a  {{- .Name -}}  b', net), 'awebb');
  assert.equal(run('a {{/* a comment */}}b', net), 'a b');
  assert.equal(run('a {{- /* c */ -}} b', net), 'ab');
  assert.equal(run('{{-3}}', {}), '-3');
});

test('what cannot be parsed or run: a TemplateError saying where and what', () => {
  const bad: [string, RegExp][] = [
    ['{{.Name', /unclosed action/],
    ['{{if .A}}x', /has no \{\{end\}\}/],
    ['{{end}}', /unexpected \{\{end\}\}/],
    ['{{nosuch .A}}', /function "nosuch" not defined \(functions: and, or, not/],
    ['{{template "x"}}', /\{\{template\}\} is not supported by dnet's --format/],
    ['{{define "x"}}{{end}}', /\{\{define\}\} is not supported/],
    ['{{range .}}{{break}}{{end}}', /\{\{break\}\} is not supported/],
    ['{{"abc}}', /unterminated quoted string/],
    ["{{'a'}}", /character constants are not supported/],
    ['{{.A | .B}}', /can't give argument to non-function \.B/],
    ['{{$nope}}', /undefined variable "\$nope"/],
    ['{{.A.B}}', /nil pointer evaluating \.B/],
    ['{{.Name.X}}', /can't evaluate field X in a string/],
    ['{{index .L 5}}', /error calling index: index out of range: 5/],
    ['{{lt .Name 3}}', /incompatible types for comparison/],
    ['{{range .Name}}{{end}}', /range can't iterate over web/],
    ['{{.Name ^}}', /unexpected "\^" in an action/],
  ];
  for (const [t, re] of bad) {
    assert.throws(
      () => run(t, { ...net, L: [1], A: null }),
      (e: unknown) => e instanceof TemplateError && e.code === 'ERR_TEMPLATE' && re.test(e.message),
      t,
    );
  }
});
