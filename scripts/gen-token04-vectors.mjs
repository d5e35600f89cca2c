#!/usr/bin/env node
// Generates deterministic test vectors for ZEGO "token04" verification.
//
// Usage:
//   node scripts/gen-token04-vectors.mjs > crates/token/tests/data/token04_vectors.json
//
// Only node's built-in 'crypto' module is used. Every input (IV / nonce bytes,
// ctime, nonce) is fixed, so re-running produces byte-identical output.
//
// Wire format, as we understand it from the published generators:
//
//   token  = "04" + base64(std, padded)(body)
//   body   = expire   i64 big-endian   (same value as the inner JSON "expire")
//          | ivLen    u16 big-endian
//          | iv       ivLen bytes      (CBC: 16 bytes, GCM: 12 bytes)
//          | ctLen    u16 big-endian
//          | ct       ctLen bytes      (CBC: PKCS#7-padded ciphertext;
//                                       GCM: ciphertext followed by 16-byte tag)
//          [| mode    u8]              (only present for GCM; value 1)
//
//   key    = the 32 ASCII characters of the secret, used as-is (AES-256).
//   plain  = compact JSON object with app_id, user_id, nonce, ctime, expire,
//            payload. The key order and the string-escaping style differ per
//            generator language, so vectors cover several of them.
//
// The script re-parses and decrypts every token it produces and aborts (exit 1,
// nothing on stdout) if anything fails to round-trip.

import crypto from 'crypto';

const SECRET = 'fa94dd0f974cf2e293728a526b028271';
const SECRET2 = '0123456789abcdefghijklmnopqrstuv';
const CTIME = 1790000000;
const EXPIRE = CTIME + 3153600000; // 100 years
const MODE_GCM = 1;

// ---------------------------------------------------------------------------
// JSON string escaping in the styles of the different generator languages.

const hex4 = (code, upper) => {
  const h = code.toString(16).padStart(4, '0');
  return '\\u' + (upper ? h.toUpperCase() : h);
};

// JavaScript JSON.stringify (also what Python json.dumps(ensure_ascii=False),
// rapidjson and Newtonsoft produce for the characters used here).
function escapeJs(s) {
  return JSON.stringify(s);
}

// Go encoding/json: additionally escapes < > & and U+2028 / U+2029.
function escapeGo(s) {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => hex4(c.charCodeAt(0), false));
}

// PHP json_encode with default flags: escapes "/" and every non-ASCII UTF-16
// code unit as a lowercase \uXXXX escape (astral chars become surrogate pairs).
function escapePhp(s) {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ch = s[i];
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '/') out += '\\/';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || c > 0x7e) out += hex4(c, false);
    else out += ch;
  }
  return out + '"';
}

// Java json-simple (JSONValue.escape): escapes "/" and a few control ranges
// with uppercase hex; other non-ASCII characters are emitted raw.
function escapeJavaSimple(s) {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ch = s[i];
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '/') out += '\\/';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c <= 0x1f || (c >= 0x7f && c <= 0x9f) || (c >= 0x2000 && c <= 0x20ff)) out += hex4(c, true);
    else out += ch;
  }
  return out + '"';
}

const ESCAPERS = { js: escapeJs, go: escapeGo, php: escapePhp, java: escapeJavaSimple };

// Field orders observed in the generators.
const ORDERS = {
  // Go struct TokenInfo04; PHP token04 (latest)
  go: ['app_id', 'user_id', 'ctime', 'expire', 'nonce', 'payload'],
  // Node (js/ts), Python, C++, PHP token04-php5.6+
  node: ['app_id', 'user_id', 'nonce', 'ctime', 'expire', 'payload'],
  // C# Dictionary insertion order
  csharp: ['app_id', 'user_id', 'payload', 'ctime', 'expire', 'nonce'],
  // Java json-simple JSONObject == java.util.HashMap iteration order (Java 8+)
  javaHashMap: ['user_id', 'payload', 'expire', 'ctime', 'app_id', 'nonce'],
};

function buildPlaintext(fields, order, escapeStyle) {
  const esc = ESCAPERS[escapeStyle];
  const parts = ORDERS[order].map((k) => {
    const v = fields[k];
    const enc = typeof v === 'string' ? esc(v) : String(v);
    if (typeof v === 'number' && !Number.isSafeInteger(v)) throw new Error(`unsafe integer for ${k}`);
    return `"${k}":${enc}`;
  });
  return '{' + parts.join(',') + '}';
}

// ---------------------------------------------------------------------------
// Binary framing and encryption.

function u16be(n) {
  if (n < 0 || n > 0xffff) throw new Error('u16 out of range');
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n, 0);
  return b;
}

function i64be(n) {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt(n), 0);
  return b;
}

function keyFromSecret(secret) {
  const key = Buffer.from(secret, 'utf8');
  if (secret.length !== 32 || key.length !== 32) throw new Error('secret must be 32 ASCII chars');
  return key;
}

function sealCbc(plaintext, secret, iv) {
  if (iv.length !== 16) throw new Error('CBC IV must be 16 bytes');
  const c = crypto.createCipheriv('aes-256-cbc', keyFromSecret(secret), iv);
  return Buffer.concat([c.update(Buffer.from(plaintext, 'utf8')), c.final()]);
}

function sealGcm(plaintext, secret, nonce) {
  if (nonce.length !== 12) throw new Error('GCM nonce must be 12 bytes');
  const c = crypto.createCipheriv('aes-256-gcm', keyFromSecret(secret), nonce);
  const ct = Buffer.concat([c.update(Buffer.from(plaintext, 'utf8')), c.final()]);
  return Buffer.concat([ct, c.getAuthTag()]);
}

function frame(layout, expire, iv, sealed) {
  const parts = [i64be(expire), u16be(iv.length), iv, u16be(sealed.length), sealed];
  if (layout === 'gcm') parts.push(Buffer.from([MODE_GCM]));
  return '04' + Buffer.concat(parts).toString('base64');
}

// ---------------------------------------------------------------------------
// Independent decoder used for the self-check.

function open(token, secret) {
  if (!token.startsWith('04')) throw new Error('bad version prefix');
  const body = Buffer.from(token.slice(2), 'base64');
  if (body.toString('base64') !== token.slice(2)) throw new Error('non-canonical base64');
  let off = 0;
  const need = (n) => {
    if (off + n > body.length) throw new Error('truncated');
  };
  need(8);
  const expire = Number(body.readBigInt64BE(off));
  off += 8;
  need(2);
  const ivLen = body.readUInt16BE(off);
  off += 2;
  need(ivLen);
  const iv = body.subarray(off, off + ivLen);
  off += ivLen;
  need(2);
  const ctLen = body.readUInt16BE(off);
  off += 2;
  need(ctLen);
  const ct = body.subarray(off, off + ctLen);
  off += ctLen;
  const rest = body.subarray(off);
  const key = keyFromSecret(secret);
  let layout;
  let plain;
  if (rest.length === 0) {
    layout = 'cbc';
    const d = crypto.createDecipheriv('aes-256-cbc', key, iv);
    plain = Buffer.concat([d.update(ct), d.final()]);
  } else if (rest.length === 1 && rest[0] === MODE_GCM) {
    layout = 'gcm';
    if (ct.length < 16) throw new Error('gcm ciphertext shorter than tag');
    const d = crypto.createDecipheriv('aes-256-gcm', key, iv);
    d.setAuthTag(ct.subarray(ct.length - 16));
    plain = Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]);
  } else {
    throw new Error('unexpected trailing bytes');
  }
  return { layout, expire, ivLen, plaintext: plain.toString('utf8') };
}

// ---------------------------------------------------------------------------
// Vector definitions.

const asciiIv = (s, len) => {
  if (s.length !== len || !/^[0-9a-z]+$/.test(s)) throw new Error(`IV "${s}" must be ${len} chars of [0-9a-z]`);
  return Buffer.from(s, 'ascii');
};
const hexBytes = (h, len) => {
  const b = Buffer.from(h, 'hex');
  if (b.length !== len) throw new Error(`expected ${len} bytes of hex`);
  return b;
};

const roomPayload = (roomId, login, publish, streams) =>
  JSON.stringify({ room_id: roomId, privilege: { 1: login, 2: publish }, stream_id_list: streams });

// Go's json.Marshal of the payload struct itself (used for the double-marshal case).
const goMarshalRoomPayload = (roomId, login, publish, streams) =>
  '{"room_id":' +
  escapeGo(roomId) +
  ',"privilege":{"1":' +
  login +
  ',"2":' +
  publish +
  '},"stream_id_list":' +
  (streams === null ? 'null' : '[' + streams.map(escapeGo).join(',') + ']') +
  '}';

// Pick a user_id so that the Go-order plaintext is an exact multiple of 16
// bytes, which forces a full block of PKCS#7 padding.
function fullBlockUser() {
  for (let k = 0; k < 16; k++) {
    const user = 'pad' + 'x'.repeat(k);
    const pt = buildPlaintext(
      { app_id: 1, user_id: user, nonce: 16, ctime: CTIME, expire: EXPIRE, payload: '' },
      'go',
      'go',
    );
    if (Buffer.byteLength(pt, 'utf8') % 16 === 0) return user;
  }
  throw new Error('no full-block user found');
}

const specs = [
  {
    name: 'cbc-go-basic-empty-payload',
    layout: 'cbc', order: 'go', escape: 'go', secret: SECRET,
    app_id: 1, user_id: 'demo', nonce: 1234567, payload: '',
    iv: asciiIv('k3v9x0q2m7a1b8c4', 16),
  },
  {
    name: 'cbc-node-room-payload',
    layout: 'cbc', order: 'node', escape: 'js', secret: SECRET,
    app_id: 1, user_id: 'demo', nonce: 987654321,
    payload: roomPayload('demo', 1, 0, null),
    iv: asciiIv('n0d3r00mpay10ad1', 16),
  },
  {
    name: 'cbc-go-login-publish-streams',
    layout: 'cbc', order: 'go', escape: 'go', secret: SECRET,
    app_id: 1, user_id: 'demo', nonce: 2024,
    payload: roomPayload('demo', 1, 1, ['s1', 's2']),
    iv: asciiIv('pub1ish5treams00', 16),
  },
  {
    name: 'gcm-node-empty-payload',
    layout: 'gcm', order: 'node', escape: 'js', secret: SECRET,
    app_id: 1, user_id: 'demo', nonce: 5550123, payload: '',
    // Node/Java/C# generators use 12 random binary bytes.
    iv: hexBytes('9c1e04f7a2b35d6e8f00ff11', 12),
  },
  {
    name: 'gcm-ascii-nonce-room-payload',
    layout: 'gcm', order: 'node', escape: 'js', secret: SECRET,
    app_id: 1, user_id: 'demo', nonce: 77777777,
    payload: roomPayload('demo', 1, 0, null),
    // Python/PHP/C++ generators use 12 chars of [0-9a-z].
    iv: asciiIv('gcmn0nce12ab', 12),
  },
  {
    name: 'cbc-go-unicode-user-html-escape',
    layout: 'cbc', order: 'go', escape: 'go', secret: SECRET,
    app_id: 1, user_id: '用户_1', nonce: 31337,
    payload: roomPayload('a<b>&c', 1, 1, ['s<1>', 'x&y']),
    iv: asciiIv('un1c0deus3rhtm1e', 16),
  },
  {
    name: 'cbc-go-double-marshal-payload',
    layout: 'cbc', order: 'go', escape: 'go', secret: SECRET,
    app_id: 1, user_id: 'demo', nonce: 424242,
    // Payload produced by Go json.Marshal: contains literal "\u003c" text,
    // which the outer Marshal then escapes again as "\\u003c".
    payload: goMarshalRoomPayload('r<1>&2', 1, 0, null),
    iv: asciiIv('d0ub1emarsha1pay', 16),
  },
  {
    name: 'cbc-node-max-app-id-negative-nonce',
    layout: 'cbc', order: 'node', escape: 'js', secret: SECRET2,
    app_id: 4294967295, user_id: 'max_app', nonce: -123456789,
    payload: roomPayload('big', 1, 1, null),
    iv: asciiIv('maxapp1dnegn0nce', 16),
  },
  {
    name: 'gcm-node-max-app-id-min-nonce',
    layout: 'gcm', order: 'node', escape: 'js', secret: SECRET2,
    app_id: 4294967295, user_id: 'max_app', nonce: -2147483648, payload: '',
    iv: hexBytes('00112233445566778899aabb', 12),
  },
  {
    name: 'cbc-go-expired',
    layout: 'cbc', order: 'go', escape: 'go', secret: SECRET,
    app_id: 1, user_id: 'demo', nonce: 99, payload: '',
    ctime: 1577836800, expire: 1577840400,
    iv: asciiIv('exp1red0000t0ken', 16),
  },
  {
    name: 'cbc-go-full-padding-block',
    layout: 'cbc', order: 'go', escape: 'go', secret: SECRET,
    app_id: 1, user_id: fullBlockUser(), nonce: 16, payload: '',
    iv: asciiIv('fu11b10ckpadd1ng', 16),
  },
  {
    name: 'cbc-csharp-order',
    layout: 'cbc', order: 'csharp', escape: 'js', secret: SECRET,
    app_id: 1, user_id: 'demo', nonce: 2147483646,
    payload: roomPayload('demo', 1, 0, null),
    iv: asciiIv('csharpd1ct0rder0', 16),
  },
  {
    name: 'cbc-java-binary-iv-hashmap-order',
    layout: 'cbc', order: 'javaHashMap', escape: 'java', secret: SECRET,
    app_id: 1, user_id: 'demo', nonce: -987654321,
    payload: roomPayload('live/room', 1, 1, ['live/s1']),
    // Java CBC generator overwrites its IV with ThreadLocalRandom bytes.
    iv: hexBytes('f0e1d2c3b4a5968778695a4b3c2d1e0f', 16),
  },
  {
    name: 'gcm-java-binary-nonce-hashmap-order',
    layout: 'gcm', order: 'javaHashMap', escape: 'java', secret: SECRET,
    app_id: 1, user_id: 'demo', nonce: 1, payload: '',
    iv: hexBytes('a1a2a3a4a5a6a7a8a9aaabac', 12),
  },
  {
    name: 'gcm-php-style-escapes',
    layout: 'gcm', order: 'go', escape: 'php', secret: SECRET,
    app_id: 1, user_id: '用户_😀', nonce: 1804289383,
    payload: roomPayload('房间/1', 1, 0, ['a/b']),
    iv: asciiIv('php0n0nce12x', 12),
  },
];

// ---------------------------------------------------------------------------

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

const out = [];
const names = new Set();
for (const s of specs) {
  assert(!names.has(s.name), `duplicate name ${s.name}`);
  names.add(s.name);
  const ctime = s.ctime ?? CTIME;
  const expire = s.expire ?? EXPIRE;
  assert(Number.isInteger(s.app_id) && s.app_id >= 0 && s.app_id <= 0xffffffff, `${s.name}: app_id not u32`);
  assert(Number.isInteger(s.nonce) && s.nonce >= -2147483648 && s.nonce <= 2147483647, `${s.name}: nonce not i32`);
  const fields = { app_id: s.app_id, user_id: s.user_id, nonce: s.nonce, ctime, expire, payload: s.payload };
  const plaintext = buildPlaintext(fields, s.order, s.escape);
  const sealed = s.layout === 'cbc' ? sealCbc(plaintext, s.secret, s.iv) : sealGcm(plaintext, s.secret, s.iv);
  const token = frame(s.layout, expire, s.iv, sealed);

  // Self-check: decode, decrypt and compare.
  const got = open(token, s.secret);
  assert(got.layout === s.layout, `${s.name}: layout mismatch`);
  assert(got.expire === expire, `${s.name}: header expire mismatch`);
  assert(got.ivLen === (s.layout === 'cbc' ? 16 : 12), `${s.name}: iv length`);
  assert(got.plaintext === plaintext, `${s.name}: plaintext did not round-trip`);
  const parsed = JSON.parse(got.plaintext);
  for (const k of Object.keys(fields)) {
    assert(parsed[k] === fields[k], `${s.name}: field ${k} mismatch after JSON parse`);
  }
  assert(Object.keys(parsed).length === 6, `${s.name}: unexpected fields`);
  assert(Object.keys(parsed).join(',') === ORDERS[s.order].join(','), `${s.name}: field order`);
  // A wrong key must not decrypt to the same plaintext (GCM must fail outright).
  const wrong = s.secret.slice(0, 31) + (s.secret[31] === '0' ? '1' : '0');
  let wrongOk = false;
  try {
    wrongOk = open(token, wrong).plaintext === plaintext;
  } catch {
    wrongOk = false;
  }
  assert(!wrongOk, `${s.name}: decrypted with wrong key`);
  if (s.layout === 'gcm') {
    let threw = false;
    try {
      open(token, wrong);
    } catch {
      threw = true;
    }
    assert(threw, `${s.name}: GCM accepted wrong key`);
  }

  out.push({
    name: s.name,
    layout: s.layout,
    app_id: s.app_id,
    secret: s.secret,
    user_id: s.user_id,
    ctime,
    expire,
    nonce: s.nonce,
    payload: s.payload,
    plaintext,
    token,
  });
}

// Spot-check that the escaping styles actually produced what they claim.
const byName = Object.fromEntries(out.map((v) => [v.name, v]));
assert(byName['cbc-go-unicode-user-html-escape'].plaintext.includes('a\\u003cb\\u003e\\u0026c'), 'go html escape');
assert(byName['cbc-go-unicode-user-html-escape'].plaintext.includes('"user_id":"用户_1"'), 'go raw unicode');
assert(byName['cbc-go-double-marshal-payload'].payload.includes('\\u003c'), 'go double marshal payload');
assert(byName['cbc-go-double-marshal-payload'].plaintext.includes('\\\\u003c'), 'go double marshal plaintext');
assert(byName['gcm-php-style-escapes'].plaintext.includes('\\u7528\\u6237_\\ud83d\\ude00'), 'php unicode escape');
assert(byName['gcm-php-style-escapes'].plaintext.includes('a\\/b'), 'php slash escape');
assert(byName['cbc-java-binary-iv-hashmap-order'].plaintext.includes('live\\/room'), 'java slash escape');
assert(Buffer.byteLength(byName['cbc-go-full-padding-block'].plaintext) % 16 === 0, 'full padding block');

process.stdout.write(JSON.stringify(out, null, 2) + '\n');
