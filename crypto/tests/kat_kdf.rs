//! Known-answer tests for the key derivation primitives: HKDF-SHA256 (RFC 5869,
//! Appendix A, test cases 1–3) and Argon2id (RFC 9106 §5.3).

use hex_literal::hex;
use sqlvault_crypto::{
    Argon2Params, DatabaseSalt, KdfKind, Key, KeyPurpose, MasterKey, argon2id, argon2id_with_secret,
    derive_key, derive_master_key, hkdf_sha256,
};

/// An RFC 5869 test case: inputs and the expected output keying material.
struct HkdfCase {
    name: &'static str,
    ikm: &'static [u8],
    salt: &'static [u8],
    info: &'static [u8],
    okm: &'static [u8],
}

/// RFC 5869 Appendix A.1–A.3 (the SHA-256 cases).
const RFC5869: &[HkdfCase] = &[
    HkdfCase {
        name: "A.1 basic test case with SHA-256",
        ikm: &hex!("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"),
        salt: &hex!("000102030405060708090a0b0c"),
        info: &hex!("f0f1f2f3f4f5f6f7f8f9"),
        okm: &hex!(
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
            "34007208d5b887185865"
        ),
    },
    HkdfCase {
        name: "A.2 test with SHA-256 and longer inputs/outputs",
        ikm: &hex!(
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
            "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
            "404142434445464748494a4b4c4d4e4f"
        ),
        salt: &hex!(
            "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
            "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
            "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
        ),
        info: &hex!(
            "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
            "d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef"
            "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"
        ),
        okm: &hex!(
            "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
            "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
            "cc30c58179ec3e87c14c01d5c1f3434f1d87"
        ),
    },
    HkdfCase {
        name: "A.3 test with SHA-256 and zero-length salt/info",
        ikm: &hex!("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"),
        salt: &[],
        info: &[],
        okm: &hex!(
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
            "9d201395faa4b61a96c8"
        ),
    },
];

#[test]
fn hkdf_sha256_matches_rfc5869() {
    for case in RFC5869 {
        let mut okm = vec![0u8; case.okm.len()];
        hkdf_sha256(case.salt, case.ikm, case.info, &mut okm).unwrap();
        assert_eq!(okm, case.okm, "RFC 5869 {}", case.name);
    }
}

/// The page keys are exactly HKDF-SHA256(salt = database salt, IKM = master key,
/// info = "sqlvault/v2/page-key" ‖ epoch as 4 big-endian bytes), 32 bytes: this pins the
/// label format, which every format-2 database depends on.
#[test]
fn page_keys_are_hkdf_with_the_documented_label() {
    let master_bytes = hex!("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    let salt = DatabaseSalt::parse(hex!("a0a1a2a3a4a5a6a7a8a9aaab02000000")).unwrap();
    let master = MasterKey::from_bytes(master_bytes);
    for epoch in [0u32, 1, 0xdead_beef, u32::MAX] {
        let mut info = b"sqlvault/v2/page-key".to_vec();
        info.extend_from_slice(&epoch.to_be_bytes());
        let mut expected = [0u8; 32];
        hkdf_sha256(salt.as_bytes(), &master_bytes, &info, &mut expected).unwrap();
        let got = derive_key(&master, &salt, KeyPurpose::PageKey { epoch });
        assert_eq!(*got, expected, "epoch {epoch:#x}");
        // The version-1 label no longer derives the page key.
        let mut v1_info = b"sqlvault/v1/page-key".to_vec();
        v1_info.extend_from_slice(&epoch.to_be_bytes());
        let mut v1 = [0u8; 32];
        hkdf_sha256(salt.as_bytes(), &master_bytes, &v1_info, &mut v1).unwrap();
        assert_ne!(*got, v1, "epoch {epoch:#x}");
    }
}

/// The seal-context key is HKDF-SHA256(salt = database salt, IKM = master key, info =
/// "sqlvault/v2/context-key" padded with one zero byte to the 24 bytes of every label),
/// 32 bytes, and differs from every page key.
#[test]
fn the_context_key_is_hkdf_with_the_documented_label() {
    let master_bytes = hex!("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    let salt = DatabaseSalt::parse(hex!("a0a1a2a3a4a5a6a7a8a9aaab02000000")).unwrap();
    let master = MasterKey::from_bytes(master_bytes);
    let mut expected = [0u8; 32];
    hkdf_sha256(
        salt.as_bytes(),
        &master_bytes,
        b"sqlvault/v2/context-key\0",
        &mut expected,
    )
    .unwrap();
    let got = derive_key(&master, &salt, KeyPurpose::ContextKey);
    assert_eq!(*got, expected);
    for epoch in [0u32, 1, u32::MAX] {
        assert_ne!(*got, *derive_key(&master, &salt, KeyPurpose::PageKey { epoch }));
    }
}

/// RFC 9106 §5.3: Argon2id, version 0x13, 32 KiB, 3 passes, 4 lanes, 32-byte tag, with a
/// secret and associated data.
const RFC9106_PASSWORD: [u8; 32] = [0x01; 32];
const RFC9106_SALT: [u8; 16] = [0x02; 16];
const RFC9106_SECRET: [u8; 8] = [0x03; 8];
const RFC9106_AD: [u8; 12] = [0x04; 12];
const RFC9106_PARAMS: Argon2Params = Argon2Params {
    memory_kib: 32,
    iterations: 3,
    parallelism: 4,
};
const RFC9106_TAG: [u8; 32] = hex!("0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659");

/// A master key's bytes are never exposed, so compare master keys through a working key
/// derived from each: HKDF-SHA256 (itself checked against RFC 5869 above) maps equal
/// inputs to equal outputs and, short of a SHA-256 collision, different inputs to
/// different ones.
fn fingerprint(master: &MasterKey) -> [u8; 32] {
    let Ok(salt) = DatabaseSalt::parse(hex!("000000000000000000000000020a0101")) else {
        panic!("a valid Argon2id salt");
    };
    *derive_key(master, &salt, KeyPurpose::PageKey { epoch: 0 })
}

#[test]
fn argon2id_matches_rfc9106() {
    RFC9106_PARAMS.validate().unwrap();
    let got = argon2id_with_secret(
        &RFC9106_PASSWORD,
        &RFC9106_SALT,
        &RFC9106_SECRET,
        &RFC9106_AD,
        RFC9106_PARAMS,
    )
    .unwrap();
    assert_eq!(
        fingerprint(&got),
        fingerprint(&MasterKey::from_bytes(RFC9106_TAG))
    );

    // Each of the optional inputs matters: dropping either changes the key.
    let no_secret =
        argon2id_with_secret(&RFC9106_PASSWORD, &RFC9106_SALT, &[], &RFC9106_AD, RFC9106_PARAMS).unwrap();
    let no_ad = argon2id_with_secret(
        &RFC9106_PASSWORD,
        &RFC9106_SALT,
        &RFC9106_SECRET,
        &[],
        RFC9106_PARAMS,
    )
    .unwrap();
    assert_ne!(fingerprint(&no_secret), fingerprint(&got));
    assert_ne!(fingerprint(&no_ad), fingerprint(&got));
}

/// `argon2id` (what passphrases go through) is the RFC 9106 function without secret or
/// associated data, and `derive_master_key` runs it over the salt's 12-byte Argon2id salt
/// (bytes 0..8 and 12..16, [`DatabaseSalt::kdf_salt`]) with the parameters the salt
/// records — so a fresh copy of the salt, which keeps those bytes, derives the same key.
#[test]
fn passphrases_go_through_argon2id_with_the_salt_and_its_parameters() {
    let plain = argon2id(&RFC9106_PASSWORD, &RFC9106_SALT, RFC9106_PARAMS).unwrap();
    let explicit = argon2id_with_secret(&RFC9106_PASSWORD, &RFC9106_SALT, &[], &[], RFC9106_PARAMS).unwrap();
    assert_eq!(fingerprint(&plain), fingerprint(&explicit));

    let params = Argon2Params {
        memory_kib: 64,
        iterations: 2,
        parallelism: 2,
    };
    let salt = DatabaseSalt::generate(KdfKind::Argon2id(params)).unwrap();
    let bytes = salt.as_bytes();
    let mut kdf_salt = [0u8; 12];
    kdf_salt[..8].copy_from_slice(&bytes[..8]);
    kdf_salt[8..].copy_from_slice(&bytes[12..]);
    assert_eq!(salt.kdf_salt(), kdf_salt);
    assert_eq!(
        kdf_salt[8..],
        [2, 6, 2, 2],
        "format version 2, 2^6 KiB, 2 passes, 2 lanes"
    );

    let key = Key::Passphrase("pass phrase".into());
    let via_salt = derive_master_key(&key, &salt).unwrap();
    let direct = argon2id(b"pass phrase", &kdf_salt, params).unwrap();
    assert_eq!(fingerprint(&via_salt), fingerprint(&direct));
    let whole_salt = argon2id(b"pass phrase", salt.as_bytes(), params).unwrap();
    assert_ne!(fingerprint(&via_salt), fingerprint(&whole_salt));
    let other_params = argon2id(b"pass phrase", &kdf_salt, Argon2Params::INSECURE_FOR_TESTS).unwrap();
    assert_ne!(fingerprint(&via_salt), fingerprint(&other_params));

    let copy = salt.fresh_copy().unwrap();
    assert_ne!(copy, salt);
    assert_eq!(copy.kdf_salt(), kdf_salt);
    assert_eq!(
        fingerprint(&derive_master_key(&key, &copy).unwrap()),
        fingerprint(&via_salt)
    );
}

#[test]
fn associated_data_beyond_the_argon2_limit_is_a_typed_error() {
    let err = argon2id_with_secret(b"pw", &RFC9106_SALT, &[], &[0u8; 33], RFC9106_PARAMS).unwrap_err();
    assert!(
        matches!(err, sqlvault_crypto::Error::InvalidKdfParams(_)),
        "{err:?}"
    );
}
