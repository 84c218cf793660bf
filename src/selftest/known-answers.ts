/**
 * @module selftest/known-answers
 * Published test vectors that `fortress selftest` runs on the machine it is on: one or a few per
 * algorithm, each from the standard that defines it. The full suites (Wycheproof, thousands of
 * cases) run in the test suite; these prove the installed build computes the standard answers.
 */

/** An AEAD vector. `tag` may be omitted for vectors that must fail to decrypt. */
export interface AeadVector {
  readonly source: string;
  readonly key: string;
  readonly nonce: string;
  readonly aad: string;
  readonly plaintext: string;
  readonly ciphertext: string;
  readonly tag: string;
  /** True for vectors whose decryption must be rejected. */
  readonly mustFail?: boolean;
}

const SUNSCREEN =
  '4c616469657320616e642047656e746c656d656e206f662074686520636c617373206f66202739393a204966204920636f756c64206f6666657220796f75206f6e6c79206f6e652074697020666f7220746865206675747572652c2073756e73637265656e20776f756c642062652069742e';

const AEGIS_KEY = '1001000000000000000000000000000000000000000000000000000000000000';
const AEGIS_NONCE = '1000020000000000000000000000000000000000000000000000000000000000';

export const AEAD_VECTORS: Readonly<Record<string, readonly AeadVector[]>> = {
  'xchacha20-poly1305': [
    {
      source: 'draft-irtf-cfrg-xchacha-03 §A.3.1',
      key: '808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f',
      nonce: '404142434445464748494a4b4c4d4e4f5051525354555657',
      aad: '50515253c0c1c2c3c4c5c6c7',
      plaintext: SUNSCREEN,
      ciphertext:
        'bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff921f9664c97637da9768812f615c68b13b52e',
      tag: 'c0875924c1c7987947deafd8780acf49',
    },
  ],
  'chacha20-poly1305': [
    {
      source: 'RFC 8439 §2.8.2',
      key: '808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f',
      nonce: '070000004041424344454647',
      aad: '50515253c0c1c2c3c4c5c6c7',
      plaintext: SUNSCREEN,
      ciphertext:
        'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116',
      tag: '1ae10b594f09e26a7e902ecbd0600691',
    },
  ],
  'aes-256-gcm': [
    {
      source: 'McGrew & Viega, The GCM Mode of Operation, test case 13',
      key: '0000000000000000000000000000000000000000000000000000000000000000',
      nonce: '000000000000000000000000',
      aad: '',
      plaintext: '',
      ciphertext: '',
      tag: '530f8afbc74536b9a963b4f1c4cb738b',
    },
    {
      source: 'McGrew & Viega, The GCM Mode of Operation, test case 14',
      key: '0000000000000000000000000000000000000000000000000000000000000000',
      nonce: '000000000000000000000000',
      aad: '',
      plaintext: '00000000000000000000000000000000',
      ciphertext: 'cea7403d4d606b6e074ec5d3baf39d18',
      tag: 'd0d1c8a799996bf0265b98b5d48ab919',
    },
  ],
  'aegis-256': [
    {
      source: 'draft-irtf-cfrg-aegis-aead §A.3 test vector 1 (tag256)',
      key: AEGIS_KEY,
      nonce: AEGIS_NONCE,
      aad: '',
      plaintext: '00000000000000000000000000000000',
      ciphertext: '754fc3d8c973246dcc6d741412a4b236',
      tag: '1181a1d18091082bf0266f66297d167d2e68b845f61a3b0527d31fc7b7b89f13',
    },
    {
      source: 'draft-irtf-cfrg-aegis-aead §A.3 test vector 2 (tag256)',
      key: AEGIS_KEY,
      nonce: AEGIS_NONCE,
      aad: '',
      plaintext: '',
      ciphertext: '',
      tag: '6a348c930adbd654896e1666aad67de989ea75ebaa2b82fb588977b1ffec864a',
    },
    {
      source: 'draft-irtf-cfrg-aegis-aead §A.3 test vector 3 (tag256)',
      key: AEGIS_KEY,
      nonce: AEGIS_NONCE,
      aad: '0001020304050607',
      plaintext: '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f',
      ciphertext: 'f373079ed84b2709faee373584585d60accd191db310ef5d8b11833df9dec711',
      tag: 'b7d28d0c3c0ebd409fd22b44160503073a547412da0854bfb9723020dab8da1a',
    },
    {
      source: 'draft-irtf-cfrg-aegis-aead §A.3 test vector 4 (tag256)',
      key: AEGIS_KEY,
      nonce: AEGIS_NONCE,
      aad: '0001020304050607',
      plaintext: '000102030405060708090a0b0c0d',
      ciphertext: 'f373079ed84b2709faee37358458',
      tag: '8c1cc703c81281bee3f6d9966e14948b4a175b2efbdc31e61a98b4465235c2d9',
    },
    {
      source: 'draft-irtf-cfrg-aegis-aead §A.3 test vector 5 (tag256)',
      key: AEGIS_KEY,
      nonce: AEGIS_NONCE,
      aad: '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223242526272829',
      plaintext: '101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637',
      ciphertext: '57754a7d09963e7c787583a2e7b859bb24fa1e04d49fd550b2511a358e3bca252a9b1b8b30cc4a67',
      tag: 'a3aca270c006094d71c20e6910b5161c0826df233d08919a566ec2c05990f734',
    },
    {
      source: 'draft-irtf-cfrg-aegis-aead §A.3 test vector 6 (swapped key and nonce)',
      key: AEGIS_NONCE,
      nonce: AEGIS_KEY,
      aad: '0001020304050607',
      plaintext: '',
      ciphertext: 'f373079ed84b2709faee37358458',
      tag: '8c1cc703c81281bee3f6d9966e14948b4a175b2efbdc31e61a98b4465235c2d9',
      mustFail: true,
    },
    {
      source: 'draft-irtf-cfrg-aegis-aead §A.3 test vector 7 (modified ciphertext)',
      key: AEGIS_KEY,
      nonce: AEGIS_NONCE,
      aad: '0001020304050607',
      plaintext: '',
      ciphertext: 'f373079ed84b2709faee37358459',
      tag: '8c1cc703c81281bee3f6d9966e14948b4a175b2efbdc31e61a98b4465235c2d9',
      mustFail: true,
    },
    {
      source: 'draft-irtf-cfrg-aegis-aead §A.3 test vector 8 (modified associated data)',
      key: AEGIS_KEY,
      nonce: AEGIS_NONCE,
      aad: '0001020304050608',
      plaintext: '',
      ciphertext: 'f373079ed84b2709faee37358458',
      tag: '8c1cc703c81281bee3f6d9966e14948b4a175b2efbdc31e61a98b4465235c2d9',
      mustFail: true,
    },
    {
      source: 'draft-irtf-cfrg-aegis-aead §A.3 test vector 9 (modified tag)',
      key: AEGIS_KEY,
      nonce: AEGIS_NONCE,
      aad: '0001020304050607',
      plaintext: '',
      ciphertext: 'f373079ed84b2709faee37358458',
      tag: '8c1cc703c81281bee3f6d9966e14948b4a175b2efbdc31e61a98b4465235c2da',
      mustFail: true,
    },
  ],
};

export const HKDF_VECTOR = {
  source: 'RFC 5869 §A.1',
  ikm: '0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b',
  salt: '000102030405060708090a0b0c',
  info: 'f0f1f2f3f4f5f6f7f8f9',
  okm: '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
} as const;

export const HMAC_VECTOR = {
  source: 'RFC 4231 §4.3 (test case 2)',
  key: '4a656665',
  message: '7768617420646f2079612077616e7420666f72206e6f7468696e673f',
  tag: '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
} as const;

export const ARGON2ID_VECTOR = {
  source: 'RFC 9106 §5.3',
  password: '0101010101010101010101010101010101010101010101010101010101010101',
  salt: '02020202020202020202020202020202',
  secret: '0303030303030303',
  associatedData: '040404040404040404040404',
  memoryKiB: 32,
  iterations: 3,
  parallelism: 4,
  tag: '0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659',
} as const;

export const SCRYPT_VECTOR = {
  source: 'RFC 7914 §12 (N=1024, r=8, p=16)',
  password: 'password',
  salt: 'NaCl',
  logN: 10,
  blockSize: 8,
  parallelism: 16,
  key: 'fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640',
} as const;

export const ED25519_VECTOR = {
  source: 'RFC 8032 §7.1 TEST 1',
  seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
  publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
  message: '',
  signature:
    'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
} as const;

/**
 * ML-DSA-65 has no short published vector, so the self-test pins SHA-256 of the public key that
 * FIPS 204 ML-DSA.KeyGen derives from the seed 00 01 … 1f (cross-checked when pinned: the same
 * library passes the Wycheproof ML-DSA-65 verification suite in the test suite), then runs a
 * pairwise consistency test (sign, verify, reject a modified message) as FIPS 140-3 self-tests do.
 */
export const ML_DSA_65_KEYGEN_PIN = {
  source: 'FIPS 204 KeyGen regression pin + pairwise consistency test',
  seed: '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f',
  publicKeySha256: 'd666806e11cee19a7c989f7445f90dd419cf4d2d51db8c0fdb4c0f0a542238c9',
} as const;
