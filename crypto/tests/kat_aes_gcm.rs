//! Known-answer tests for AES-256-GCM, run against every backend compiled in.
//!
//! Two published sources, both restricted to what sqlvault uses (256-bit keys, 96-bit
//! nonces, 128-bit tags):
//! - NIST CAVP GCMVS, `gcmEncryptExtIV256.rsp` (CAVS 14.0): the first vector
//!   (`Count = 0`) of several `[PTlen, AADlen]` sections, with `[Keylen = 256]`,
//!   `[IVlen = 96]`, `[Taglen = 128]`;
//! - Project Wycheproof, `testvectors_v1/aes_gcm_test.json`, the test group with
//!   `keySize 256, ivSize 96, tagSize 128`: tcId 91–106, 116–118 and 128–129 (valid) and
//!   tcId 130–156 (`ModifiedTag`, invalid: they must not open).

use hex_literal::hex;
use sqlvault_crypto::{Backend, NONCE_LEN, OpenError, TAG_LEN, aes256gcm_open, aes256gcm_seal, all_backends};

/// One valid encryption: `seal(key, iv, aad, msg) = (ct, tag)` and its inverse.
struct Valid {
    /// Where it comes from, for failure messages.
    source: &'static str,
    key: [u8; 32],
    iv: [u8; NONCE_LEN],
    aad: &'static [u8],
    msg: &'static [u8],
    ct: &'static [u8],
    tag: [u8; TAG_LEN],
}

const NIST: &[Valid] = &[
    Valid {
        source: "CAVP PTlen=0 AADlen=0 Count=0",
        key: hex!("b52c505a37d78eda5dd34f20c22540ea1b58963cf8e5bf8ffa85f9f2492505b4"),
        iv: hex!("516c33929df5a3284ff463d7"),
        aad: &[],
        msg: &[],
        ct: &[],
        tag: hex!("bdc1ac884d332457a1d2664f168c76f0"),
    },
    Valid {
        source: "CAVP PTlen=0 AADlen=128 Count=0",
        key: hex!("78dc4e0aaf52d935c3c01eea57428f00ca1fd475f5da86a49c8dd73d68c8e223"),
        iv: hex!("d79cf22d504cc793c3fb6c8a"),
        aad: &hex!("b96baa8c1c75a671bfb2d08d06be5f36"),
        msg: &[],
        ct: &[],
        tag: hex!("3e5d486aa2e30b22e040b85723a06e76"),
    },
    Valid {
        source: "CAVP PTlen=0 AADlen=720 Count=0",
        key: hex!("03ccb7dbc7b8425465c2c3fc39ed0593929ffd02a45ff583bd89b79c6f646fe9"),
        iv: hex!("fd119985533bd5520b301d12"),
        aad: &hex!(
            "98e68c10bf4b5ae62d434928fc6405147c6301417303ef3a703dcfd2c0c339a4d0a89bd29fe61fecf1066ab06d7a5c31"
            "a48ffbfed22f749b17e9bd0dc1c6f8fbd6fd4587184db964d5456132106d782338c3f117ec05229b0899"
        ),
        msg: &[],
        ct: &[],
        tag: hex!("cf54e7141349b66f248154427810c87a"),
    },
    Valid {
        source: "CAVP PTlen=104 AADlen=160 Count=0",
        key: hex!("69b458f2644af9020463b40ee503cdf083d693815e2659051ae0d039e606a970"),
        iv: hex!("8d1da8ab5f91ccd09205944b"),
        aad: &hex!("036ad5e5494ef817a8af2f5828784a4bfedd1653"),
        msg: &hex!("f3e0e09224256bf21a83a5de8d"),
        ct: &hex!("c0a62d77e6031bfdc6b13ae217"),
        tag: hex!("a794a9aaee48cd92e47761bf1baff0af"),
    },
    Valid {
        source: "CAVP PTlen=128 AADlen=128 Count=0",
        key: hex!("92e11dcdaa866f5ce790fd24501f92509aacf4cb8b1339d50c9c1240935dd08b"),
        iv: hex!("ac93a1a6145299bde902f21a"),
        aad: &hex!("1e0889016f67601c8ebea4943bc23ad6"),
        msg: &hex!("2d71bcfa914e4ac045b2aa60955fad24"),
        ct: &hex!("8995ae2e6df3dbf96fac7b7137bae67f"),
        tag: hex!("eca5aa77d51d4a0a14d9c51e1da474ab"),
    },
    Valid {
        source: "CAVP PTlen=256 AADlen=384 Count=0",
        key: hex!("dc776f0156c15d032623854b625c61868e5db84b7b6f9fbd3672f12f0025e0f6"),
        iv: hex!("67130951c4a57f6ae7f13241"),
        aad: &hex!(
            "fd0920faeb7b212932280a009bac969145e5c316cf3922622c3705c3457c4e9f124b2076994323fbcfb523f8ed16d241"
        ),
        msg: &hex!("9378a727a5119595ad631b12a5a6bc8a91756ef09c8d6eaa2b718fe86876da20"),
        ct: &hex!("6d958c20870d401a3c1f7a0ac092c97774d451c09f7aae992a8841ff0ab9d60d"),
        tag: hex!("b876831b4ecd7242963b040aa45c4114"),
    },
    Valid {
        source: "CAVP PTlen=408 AADlen=0 Count=0",
        key: hex!("1fded32d5999de4a76e0f8082108823aef60417e1896cf4218a2fa90f632ec8a"),
        iv: hex!("1f3afa4711e9474f32e70462"),
        aad: &[],
        msg: &hex!(
            "06b2c75853df9aeb17befd33cea81c630b0fc53667ff45199c629c8e15dce41e530aa792f796b8138eeab2e86c7b7bee1d40b0"
        ),
        ct: &hex!(
            "91fbd061ddc5a7fcc9513fcdfdc9c3a7c5d4d64cedf6a9c24ab8a77c36eefbf1c5dc00bc50121b96456c8cd8b6ff1f8b3e480f"
        ),
        tag: hex!("30096d340f3d5c42d82a6f475def23eb"),
    },
    Valid {
        source: "CAVP PTlen=408 AADlen=720 Count=0",
        key: hex!("148579a3cbca86d5520d66c0ec71ca5f7e41ba78e56dc6eebd566fed547fe691"),
        iv: hex!("b08a5ea1927499c6ecbfd4e0"),
        aad: &hex!(
            "e4f963f015ffbb99ee3349bbaf7e8e8e6c2a71c230a48f9d59860a29091d2747e01a5ca572347e247d25f56ba7ae8e05"
            "cde2be3c97931292c02370208ecd097ef692687fecf2f419d3200162a6480a57dad408a0dfeb492e2c5d"
        ),
        msg: &hex!(
            "9d0b15fdf1bd595f91f8b3abc0f7dec927dfd4799935a1795d9ce00c9b879434420fe42c275a7cd7b39d638fb81ca52b49dc41"
        ),
        ct: &hex!(
            "2097e372950a5e9383c675e89eea1c314f999159f5611344b298cda45e62843716f215f82ee663919c64002a5c198d7878fd3f"
        ),
        tag: hex!("adbecdb0d5c2224d804d2886ff9a5760"),
    },
];

const WYCHEPROOF_VALID: &[Valid] = &[
    Valid {
        source: "Wycheproof tcId 91",
        key: hex!("92ace3e348cd821092cd921aa3546374299ab46209691bc28b8752d17f123c20"),
        iv: hex!("00112233445566778899aabb"),
        aad: &hex!("00000000ffffffff"),
        msg: &hex!("00010203040506070809"),
        ct: &hex!("e27abdd2d2a53d2f136b"),
        tag: hex!("9a4a2579529301bcfb71c78d4060f52c"),
    },
    Valid {
        source: "Wycheproof tcId 92 (empty plaintext, non-empty AAD)",
        key: hex!("29d3a44f8723dc640239100c365423a312934ac80239212ac3df3421a2098123"),
        iv: hex!("00112233445566778899aabb"),
        aad: &hex!("aabbccddeeff"),
        msg: &[],
        ct: &[],
        tag: hex!("2a7d77fa526b8250cb296078926b5020"),
    },
    Valid {
        source: "Wycheproof tcId 93 (empty plaintext, empty AAD)",
        key: hex!("80ba3192c803ce965ea371d5ff073cf0f43b6a2ab576b208426e11409c09b9b0"),
        iv: hex!("4da5bf8dfd5852c1ea12379d"),
        aad: &[],
        msg: &[],
        ct: &[],
        tag: hex!("4771a7c404a472966cea8f73c8bfe17a"),
    },
    Valid {
        source: "Wycheproof tcId 94",
        key: hex!("cc56b680552eb75008f5484b4cb803fa5063ebd6eab91f6ab6aef4916a766273"),
        iv: hex!("99e23ec48985bccdeeab60f1"),
        aad: &[],
        msg: &hex!("2a"),
        ct: &hex!("06"),
        tag: hex!("633c1e9703ef744ffffb40edf9d14355"),
    },
    Valid {
        source: "Wycheproof tcId 95",
        key: hex!("51e4bf2bad92b7aff1a4bc05550ba81df4b96fabf41c12c7b00e60e48db7e152"),
        iv: hex!("4f07afedfdc3b6c2361823d3"),
        aad: &[],
        msg: &hex!("be3308f72a2c6aed"),
        ct: &hex!("cf332a12fdee800b"),
        tag: hex!("602e8d7c4799d62c140c9bb834876b09"),
    },
    Valid {
        source: "Wycheproof tcId 96",
        key: hex!("67119627bd988eda906219e08c0d0d779a07d208ce8a4fe0709af755eeec6dcb"),
        iv: hex!("68ab7fdbf61901dad461d23c"),
        aad: &[],
        msg: &hex!("51f8c1f731ea14acdb210a6d973e07"),
        ct: &hex!("43fc101bff4b32bfadd3daf57a590e"),
        tag: hex!("ec04aacb7148a8b8be44cb7eaf4efa69"),
    },
    Valid {
        source: "Wycheproof tcId 97",
        key: hex!("59d4eafb4de0cfc7d3db99a8f54b15d7b39f0acc8da69763b019c1699f87674a"),
        iv: hex!("2fcb1b38a99e71b84740ad9b"),
        aad: &[],
        msg: &hex!("549b365af913f3b081131ccb6b825588"),
        ct: &hex!("f58c16690122d75356907fd96b570fca"),
        tag: hex!("28752c20153092818faba2a334640d6e"),
    },
    Valid {
        source: "Wycheproof tcId 98",
        key: hex!("3b2458d8176e1621c0cc24c0c0e24c1e80d72f7ee9149a4b166176629616d011"),
        iv: hex!("45aaa3e5d16d2d42dc03445d"),
        aad: &[],
        msg: &hex!("3ff1514b1c503915918f0c0c31094a6e1f"),
        ct: &hex!("73a6b6f45f6ccc5131e07f2caa1f2e2f56"),
        tag: hex!("2d7379ec1db5952d4e95d30c340b1b1d"),
    },
    Valid {
        source: "Wycheproof tcId 99",
        key: hex!("0212a8de5007ed87b33f1a7090b6114f9e08cefd9607f2c276bdcfdbc5ce9cd7"),
        iv: hex!("e6b1adf2fd58a8762c65f31b"),
        aad: &[],
        msg: &hex!("10f1ecf9c60584665d9ae5efe279e7f7377eea6916d2b111"),
        ct: &hex!("0843fff52d934fc7a071ea62c0bd351ce85678cde3ea2c9e"),
        tag: hex!("7355fde599006715053813ce696237a8"),
    },
    Valid {
        source: "Wycheproof tcId 100",
        key: hex!("b279f57e19c8f53f2f963f5f2519fdb7c1779be2ca2b3ae8e1128b7d6c627fc4"),
        iv: hex!("98bc2c7438d5cd7665d76f6e"),
        aad: &hex!("c0"),
        msg: &hex!("fcc515b294408c8645c9183e3f4ecee5127846d1"),
        ct: &hex!("eb5500e3825952866d911253f8de860c00831c81"),
        tag: hex!("ecb660e1fb0541ec41e8d68a64141b3a"),
    },
    Valid {
        source: "Wycheproof tcId 101",
        key: hex!("cdccfe3f46d782ef47df4e72f0c02d9c7f774def970d23486f11a57f54247f17"),
        iv: hex!("376187894605a8d45e30de51"),
        aad: &hex!("956846a209e087ed"),
        msg: &hex!("e28e0e9f9d22463ac0e42639b530f42102fded75"),
        ct: &hex!("feca44952447015b5df1f456df8ca4bb4eee2ce2"),
        tag: hex!("082e91924deeb77880e1b1c84f9b8d30"),
    },
    Valid {
        source: "Wycheproof tcId 102",
        key: hex!("f32364b1d339d82e4f132d8f4a0ec1ff7e746517fa07ef1a7f422f4e25a48194"),
        iv: hex!("5a86a50a0e8a179c734b996d"),
        aad: &hex!("ab2ac7c44c60bdf8228c7884adb20184"),
        msg: &hex!("43891bccb522b1e72a6b53cf31c074e9d6c2df8e"),
        ct: &hex!("43dda832e942e286da314daa99bef5071d9d2c78"),
        tag: hex!("c3922583476ced575404ddb85dd8cd44"),
    },
    Valid {
        source: "Wycheproof tcId 103",
        key: hex!("ff0089ee870a4a39f645b0a5da774f7a5911e9696fc9cad646452c2aa8595a12"),
        iv: hex!("bc2a7757d0ce2d8b1f14ccd9"),
        aad: &hex!("972ab4e06390caae8f99dd6e2187be6c7ff2c08a24be16ef"),
        msg: &hex!("748b28031621d95ee61812b4b4f47d04c6fc2ff3"),
        ct: &hex!("a929ee7e67c7a2f91bbcec6389a3caf43ab49305"),
        tag: hex!("ebec6774b955e789591c822dab739e12"),
    },
    Valid {
        source: "Wycheproof tcId 104",
        key: hex!("6efca98126918ab564d88c6bec02e8998b2be50e3f906ff9adfdd185f373e756"),
        iv: hex!("4abd6cfc83bd06b11efaa2a7"),
        aad: &[],
        msg: &hex!(
            "bbec79c086d41e602d090f7e40494d6bf3faa1dc6df0ab8a88ea5d35d426b248"
            "c2ad880351e223f6170d37cc9655e10459e59cbd6d1c092ed31d72ccc7af20"
        ),
        ct: &hex!(
            "97b4c73a4d8b5b21bc4b50dbb70dfa77b1a7bf0bbe7cf16ecf5bb60ba8070acc"
            "5740780435ed145a62a613dd9881b721168fbb3f5af385ee5d4f856cf93cba"
        ),
        tag: hex!("27ac8c4010d8e81b7051ceb06b30fe2d"),
    },
    Valid {
        source: "Wycheproof tcId 105",
        key: hex!("5b1d1035c0b17ee0b0444767f80a25b8c1b741f4b50a4d3052226baa1c6fb701"),
        iv: hex!("d61040a313ed492823cc065b"),
        aad: &[],
        msg: &hex!(
            "d096803181beef9e008ff85d5ddc38ddacf0f09ee5f7e07f1e4079cb64d0dc8f"
            "5e6711cd4921a7887de76e2678fdc67618f1185586bfea9d4c685d50e4bb9a82"
        ),
        ct: &hex!(
            "c7d191b601f86c28b6a1bdef6a57b4f6ee3ae417bc125c381cdf1c4dac184ed1"
            "d84f1196206d62cad112b038845720e02c061179a8836f02b93fa7008379a6bf"
        ),
        tag: hex!("f15612f6c40f2e0db6dc76fc4822fcfe"),
    },
    Valid {
        source: "Wycheproof tcId 106",
        key: hex!("81b6b27e5ed90ab99fe6756d4cb41e3f07269687f5afabdb426e29096b5e4466"),
        iv: hex!("13e727486031cca21f733375"),
        aad: &[],
        msg: &hex!(
            "9a95a23cfb1e35d89a7597570df0fb0efcbb7429f53bebcbbfa49fa247b251a8"
            "508ad497066855d08688576188e4ffb12d1d084dcabec3d57806daf215dcc97edd"
        ),
        ct: &hex!(
            "7ede7368bca3c93d9f1d7f7750d6e44b1cb92c30e3c9834b0b69efd247091164"
            "4ae6f6d75715e13aea8781f8da611a13ac6364c406c1a715b7e97acb22b6e6156e"
        ),
        tag: hex!("74e20a93802f43407c8989a37f013802"),
    },
    Valid {
        source: "Wycheproof tcId 116 (63-byte AAD)",
        key: hex!("0f112e59cdccd851c3b8e76c9f05a3b7c2e4feca5846afeb351c1cbcace82f04"),
        iv: hex!("7147973339d86789a2c9a958"),
        aad: &hex!(
            "37128be45f0a7f329546e1492c3c9c2d2534d5b1f5147e49ab91221e7c3edea2"
            "1bbe47bfe3619437ce3c61e6e946c504f348296918219e51bf2c5598589cff"
        ),
        msg: &hex!("102e5804dda1fb5d656077edb15cadb5d0bdee8c"),
        ct: &hex!("618ac626ae0e8d06c2fd2fb66be253dc26ed6e38"),
        tag: hex!("d8d93ff975cb988f09174dcd439cb6a4"),
    },
    Valid {
        source: "Wycheproof tcId 117 (64-byte AAD)",
        key: hex!("2ce6b4c15f85fb2da5cc6c269491eef281980309181249ebf2832bd6d0732d0b"),
        iv: hex!("c064fae9173b173fd6f11f34"),
        aad: &hex!(
            "498d3075b09fed998280583d61bb36b6ce41f130063b80824d1586e143d349b1"
            "26b16aa10fe57343ed223d6364ee602257fe313a7fc9bf9088f027795b8dc1d3"
        ),
        msg: &hex!("f8a27a4baf00dc0555d222f2fa4fb42dc666ea3c"),
        ct: &hex!("aed58d8a252f740dba4bf6d36773bd5b41234bba"),
        tag: hex!("01f93d7456aa184ebb49bea472b6d65d"),
    },
    Valid {
        source: "Wycheproof tcId 118 (65-byte AAD)",
        key: hex!("52350da5a572911ee0e0fcedb115af6f4570fbf9c74a11bc184444d6a621d60f"),
        iv: hex!("d68ad045c1b9c2923cf5404c"),
        aad: &hex!(
            "03a94b3841292d9bbf72f413c09167c54ee10537c049afe2bbcec43b18f3890b"
            "2fcdd3bb31e6d709274e199c0c4648eb3d8b38e0c1bf7f309443bef6937cde4123"
        ),
        msg: &hex!("4e6e6dad2c16cfc6e7cac03636a4a6d88bd6a13e"),
        ct: &hex!("c7764411be13cfeaaece761bd3bb13552f088048"),
        tag: hex!("bcc2544e79f34ea1076a12b76441d6fa"),
    },
    Valid {
        source: "Wycheproof tcId 128 (special case: tag all ones)",
        key: hex!("00112233445566778899aabbccddeeff102132435465768798a9bacbdcedfe0f"),
        iv: hex!("000000000000000000000000"),
        aad: &[],
        msg: &hex!("561008fa07a68f5c61285cd013464eaf"),
        ct: &hex!("23293e9b07ca7d1b0cae7cc489a973b3"),
        tag: hex!("ffffffffffffffffffffffffffffffff"),
    },
    Valid {
        source: "Wycheproof tcId 129 (special case: tag all zeros)",
        key: hex!("00112233445566778899aabbccddeeff102132435465768798a9bacbdcedfe0f"),
        iv: hex!("ffffffffffffffffffffffff"),
        aad: &[],
        msg: &hex!("c6152244cea1978d3e0bc274cf8c0b3b"),
        ct: &hex!("7cb6fc7c6abc009efe9551a99f36a421"),
        tag: hex!("00000000000000000000000000000000"),
    },
];

/// The message that Wycheproof tcId 130–156 encrypt, with the tag they modify.
///
/// The file lists only the modified tags; the correct tag is what every one of them
/// differs from by the flips their comments name (checked in
/// [`modified_tags_are_the_documented_flips`]), and it must open.
const WYCHEPROOF_TAG_BASE: Valid = Valid {
    source: "the ciphertext of Wycheproof tcId 130-156 with its unmodified tag",
    key: hex!("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"),
    iv: hex!("505152535455565758595a5b"),
    aad: &[],
    msg: &hex!("202122232425262728292a2b2c2d2e2f"),
    ct: &hex!("b2061457c0759fc1749f174ee1ccadfa"),
    tag: hex!("9ce8fef6d8ab1bf1bf887232eab590dd"),
};

/// How a `ModifiedTag` case changes the correct tag.
enum Modification {
    /// Flip these bits (Wycheproof numbering: bit `i` is bit `i % 8`, least significant
    /// first, of byte `i / 8`).
    Bits(&'static [usize]),
    /// XOR every byte of the tag with this mask.
    EveryByte(u8),
    /// Replace the tag with this constant.
    Constant(u8),
}

/// Wycheproof tcId 130–156: (tcId, comment's modification, tag as published). Each
/// must fail to open with [`WYCHEPROOF_TAG_BASE`]'s key, nonce and ciphertext.
const WYCHEPROOF_MODIFIED_TAG: &[(u32, Modification, [u8; TAG_LEN])] = &[
    (
        130,
        Modification::Bits(&[0]),
        hex!("9de8fef6d8ab1bf1bf887232eab590dd"),
    ),
    (
        131,
        Modification::Bits(&[1]),
        hex!("9ee8fef6d8ab1bf1bf887232eab590dd"),
    ),
    (
        132,
        Modification::Bits(&[7]),
        hex!("1ce8fef6d8ab1bf1bf887232eab590dd"),
    ),
    (
        133,
        Modification::Bits(&[8]),
        hex!("9ce9fef6d8ab1bf1bf887232eab590dd"),
    ),
    (
        134,
        Modification::Bits(&[31]),
        hex!("9ce8fe76d8ab1bf1bf887232eab590dd"),
    ),
    (
        135,
        Modification::Bits(&[32]),
        hex!("9ce8fef6d9ab1bf1bf887232eab590dd"),
    ),
    (
        136,
        Modification::Bits(&[33]),
        hex!("9ce8fef6daab1bf1bf887232eab590dd"),
    ),
    (
        137,
        Modification::Bits(&[63]),
        hex!("9ce8fef6d8ab1b71bf887232eab590dd"),
    ),
    (
        138,
        Modification::Bits(&[64]),
        hex!("9ce8fef6d8ab1bf1be887232eab590dd"),
    ),
    (
        139,
        Modification::Bits(&[71]),
        hex!("9ce8fef6d8ab1bf13f887232eab590dd"),
    ),
    (
        140,
        Modification::Bits(&[77]),
        hex!("9ce8fef6d8ab1bf1bfa87232eab590dd"),
    ),
    (
        141,
        Modification::Bits(&[80]),
        hex!("9ce8fef6d8ab1bf1bf887332eab590dd"),
    ),
    (
        142,
        Modification::Bits(&[96]),
        hex!("9ce8fef6d8ab1bf1bf887232ebb590dd"),
    ),
    (
        143,
        Modification::Bits(&[97]),
        hex!("9ce8fef6d8ab1bf1bf887232e8b590dd"),
    ),
    (
        144,
        Modification::Bits(&[103]),
        hex!("9ce8fef6d8ab1bf1bf8872326ab590dd"),
    ),
    (
        145,
        Modification::Bits(&[120]),
        hex!("9ce8fef6d8ab1bf1bf887232eab590dc"),
    ),
    (
        146,
        Modification::Bits(&[121]),
        hex!("9ce8fef6d8ab1bf1bf887232eab590df"),
    ),
    (
        147,
        Modification::Bits(&[126]),
        hex!("9ce8fef6d8ab1bf1bf887232eab5909d"),
    ),
    (
        148,
        Modification::Bits(&[127]),
        hex!("9ce8fef6d8ab1bf1bf887232eab5905d"),
    ),
    (
        149,
        Modification::Bits(&[0, 64]),
        hex!("9de8fef6d8ab1bf1be887232eab590dd"),
    ),
    (
        150,
        Modification::Bits(&[31, 63]),
        hex!("9ce8fe76d8ab1b71bf887232eab590dd"),
    ),
    (
        151,
        Modification::Bits(&[63, 127]),
        hex!("9ce8fef6d8ab1b71bf887232eab5905d"),
    ),
    (
        152,
        Modification::EveryByte(0xff),
        hex!("631701092754e40e40778dcd154a6f22"),
    ),
    (
        153,
        Modification::Constant(0x00),
        hex!("00000000000000000000000000000000"),
    ),
    (
        154,
        Modification::Constant(0xff),
        hex!("ffffffffffffffffffffffffffffffff"),
    ),
    (
        155,
        Modification::EveryByte(0x80),
        hex!("1c687e76582b9b713f08f2b26a35105d"),
    ),
    (
        156,
        Modification::EveryByte(0x01),
        hex!("9de9fff7d9aa1af0be897333ebb491dc"),
    ),
];

fn check_valid(backend: Backend, v: &Valid) {
    let ctx = format!("{} on {backend:?}", v.source);
    let mut buf = v.msg.to_vec();
    let tag = aes256gcm_seal(backend, &v.key, &v.iv, v.aad, &mut buf);
    assert_eq!(buf, v.ct, "ciphertext of {ctx}");
    assert_eq!(tag, v.tag, "tag of {ctx}");
    aes256gcm_open(backend, &v.key, &v.iv, v.aad, &mut buf, &v.tag).unwrap_or_else(|_| panic!("open {ctx}"));
    assert_eq!(buf, v.msg, "plaintext of {ctx}");
}

#[test]
fn nist_cavp_vectors_on_every_backend() {
    for &backend in all_backends() {
        for v in NIST {
            check_valid(backend, v);
        }
    }
}

#[test]
fn wycheproof_valid_vectors_on_every_backend() {
    for &backend in all_backends() {
        for v in WYCHEPROOF_VALID {
            check_valid(backend, v);
        }
        check_valid(backend, &WYCHEPROOF_TAG_BASE);
    }
}

#[test]
fn wycheproof_modified_tags_are_rejected_on_every_backend() {
    let base = &WYCHEPROOF_TAG_BASE;
    for &backend in all_backends() {
        for (tc, _, tag) in WYCHEPROOF_MODIFIED_TAG {
            let mut buf = base.ct.to_vec();
            let result = aes256gcm_open(backend, &base.key, &base.iv, base.aad, &mut buf, tag);
            assert_eq!(result, Err(OpenError), "tcId {tc} opened on {backend:?}");
            assert!(
                buf.iter().all(|&b| b == 0),
                "tcId {tc}: {backend:?} left bytes in the buffer"
            );
        }
    }
}

/// Guards the table above against transcription errors: every published modified tag
/// is the correct tag changed exactly as its Wycheproof comment says.
#[test]
fn modified_tags_are_the_documented_flips() {
    let good = WYCHEPROOF_TAG_BASE.tag;
    for (tc, modification, tag) in WYCHEPROOF_MODIFIED_TAG {
        let mut expected = good;
        match modification {
            Modification::Bits(bits) => {
                for &bit in *bits {
                    expected[bit / 8] ^= 1 << (bit % 8);
                }
            }
            Modification::EveryByte(mask) => expected.iter_mut().for_each(|b| *b ^= mask),
            Modification::Constant(c) => expected = [*c; TAG_LEN],
        }
        assert_eq!(*tag, expected, "tcId {tc}");
        assert_ne!(*tag, good, "tcId {tc}");
    }
}

/// A wrong ciphertext, AAD or nonce with the right tag fails too, on every backend.
#[test]
fn valid_vectors_fail_when_any_input_changes() {
    for &backend in all_backends() {
        for v in NIST.iter().chain(WYCHEPROOF_VALID) {
            if !v.ct.is_empty() {
                let mut buf = v.ct.to_vec();
                buf[0] ^= 0x01;
                assert!(
                    aes256gcm_open(backend, &v.key, &v.iv, v.aad, &mut buf, &v.tag).is_err(),
                    "{}",
                    v.source
                );
            }
            let mut aad = v.aad.to_vec();
            aad.push(0);
            let mut buf = v.ct.to_vec();
            assert!(
                aes256gcm_open(backend, &v.key, &v.iv, &aad, &mut buf, &v.tag).is_err(),
                "{}",
                v.source
            );
            let mut iv = v.iv;
            iv[NONCE_LEN - 1] ^= 0x80;
            let mut buf = v.ct.to_vec();
            assert!(
                aes256gcm_open(backend, &v.key, &iv, v.aad, &mut buf, &v.tag).is_err(),
                "{}",
                v.source
            );
            let mut key = v.key;
            key[0] ^= 0x01;
            let mut buf = v.ct.to_vec();
            assert!(
                aes256gcm_open(backend, &key, &v.iv, v.aad, &mut buf, &v.tag).is_err(),
                "{}",
                v.source
            );
        }
    }
}
