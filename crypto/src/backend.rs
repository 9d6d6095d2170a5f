//! The seam between the page cipher and the AES-256-GCM implementations.
//!
//! Two backends produce byte-identical output: `aes-gcm` (pure Rust, always built, the
//! reference) and `aws-lc-rs` (assembly-accelerated, the default). A closed enum rather
//! than a trait object keeps dispatch a predictable branch on the hot path.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, KeyInit};

use crate::OpenError;

/// Length of an AES-GCM nonce.
pub const NONCE_LEN: usize = 12;
/// Length of an AES-GCM tag.
pub const TAG_LEN: usize = 16;

/// Which AES-256-GCM implementation a [`crate::PageCipher`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Backend {
    /// RustCrypto's `aes-gcm` 0.11: pure Rust, portable, the reference implementation.
    #[cfg_attr(not(feature = "aws-lc"), default)]
    RustCrypto,
    /// AWS-LC through `aws-lc-rs`: the fastest on x86-64 and aarch64.
    #[cfg(feature = "aws-lc")]
    #[default]
    AwsLc,
}

/// A keyed AES-256-GCM instance of one backend.
pub(crate) enum AeadKey {
    RustCrypto(Box<Aes256Gcm>),
    #[cfg(feature = "aws-lc")]
    AwsLc(aws_lc_rs::aead::LessSafeKey),
}

impl AeadKey {
    pub(crate) fn new(backend: Backend, key: &[u8; 32]) -> AeadKey {
        match backend {
            Backend::RustCrypto => {
                let key = aes_gcm::Key::<Aes256Gcm>::from(*key);
                AeadKey::RustCrypto(Box::new(Aes256Gcm::new(&key)))
            }
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc => {
                use aws_lc_rs::aead::{AES_256_GCM, LessSafeKey, UnboundKey};
                // A 32-byte key is always the right length for AES_256_GCM.
                let unbound = match UnboundKey::new(&AES_256_GCM, key) {
                    Ok(k) => k,
                    Err(_) => unreachable!("AES-256-GCM accepts every 32-byte key"),
                };
                AeadKey::AwsLc(LessSafeKey::new(unbound))
            }
        }
    }

    /// Encrypts `buf` in place and returns the detached tag.
    pub(crate) fn seal(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], buf: &mut [u8]) -> [u8; TAG_LEN] {
        match self {
            AeadKey::RustCrypto(c) => {
                let nonce = aes_gcm::Nonce::from(*nonce);
                match c.encrypt_inout_detached(&nonce, aad, buf.into()) {
                    Ok(tag) => tag.into(),
                    // Only fails past GCM's length limits (2^36 bytes), far above a page.
                    Err(_) => unreachable!("page-sized input within AES-GCM limits"),
                }
            }
            #[cfg(feature = "aws-lc")]
            AeadKey::AwsLc(k) => {
                use aws_lc_rs::aead::{Aad, Nonce};
                let nonce = Nonce::assume_unique_for_key(*nonce);
                match k.seal_in_place_separate_tag(nonce, Aad::from(aad), buf) {
                    Ok(tag) => {
                        let mut out = [0u8; TAG_LEN];
                        out.copy_from_slice(tag.as_ref());
                        out
                    }
                    Err(_) => unreachable!("page-sized input within AES-GCM limits"),
                }
            }
        }
    }

    /// Decrypts `buf` in place if `tag` authenticates it. On failure `buf` holds no plaintext.
    pub(crate) fn open(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), OpenError> {
        let ok = match self {
            AeadKey::RustCrypto(c) => {
                let nonce = aes_gcm::Nonce::from(*nonce);
                let tag = aes_gcm::Tag::from(*tag);
                c.decrypt_inout_detached(&nonce, aad, buf.into(), &tag).is_ok()
            }
            #[cfg(feature = "aws-lc")]
            AeadKey::AwsLc(k) => {
                use aws_lc_rs::aead::{Aad, Nonce};
                let nonce = Nonce::assume_unique_for_key(*nonce);
                k.open_in_place_separate_tag(nonce, Aad::from(aad), tag, buf)
                    .is_ok()
            }
        };
        if ok {
            Ok(())
        } else {
            // Neither backend promises what is left in the buffer after a failed open.
            buf.fill(0);
            Err(OpenError)
        }
    }
}

/// Encrypts with a chosen backend and returns the tag: the bare AEAD call, exposed for
/// the known-answer tests, the differential fuzz target and the benchmarks' baseline.
pub fn aes256gcm_seal(
    backend: Backend,
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
) -> [u8; TAG_LEN] {
    AeadKey::new(backend, key).seal(nonce, aad, buf)
}

/// Decrypts with a chosen backend; the counterpart of [`aes256gcm_seal`].
///
/// # Errors
/// [`OpenError`] if the tag does not authenticate; `buf` is then zeroed.
pub fn aes256gcm_open(
    backend: Backend,
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8; TAG_LEN],
) -> Result<(), OpenError> {
    AeadKey::new(backend, key).open(nonce, aad, buf, tag)
}

/// Every backend compiled into this build, for tests that must cover them all.
pub fn all_backends() -> &'static [Backend] {
    &[
        Backend::RustCrypto,
        #[cfg(feature = "aws-lc")]
        Backend::AwsLc,
    ]
}
