//! Where keys come from: a key file, an environment variable or a prompt — never argv.

use std::path::{Path, PathBuf};

use clap::Args;
use sqlvault_vfs::{Argon2Params, KdfLimits, Key};
use zeroize::Zeroizing;

use super::error::CliError;

/// Environment variable holding the key of the sqlvault database.
pub const ENV_KEY: &str = "SQLVAULT_KEY";
/// Environment variable holding the key of the database being imported.
pub const ENV_SOURCE_KEY: &str = "SQLVAULT_SOURCE_KEY";
/// Environment variable holding the new key for `rekey`.
pub const ENV_NEW_KEY: &str = "SQLVAULT_NEW_KEY";
/// Every key variable: taken out of the environment when the CLI starts.
pub const KEY_VARIABLES: [&str; 3] = [ENV_KEY, ENV_SOURCE_KEY, ENV_NEW_KEY];

/// `--key-file` for the sqlvault database a command works on.
#[derive(Args, Debug, Clone)]
pub struct KeyOpts {
    /// File holding the database key: x'<64 hex digits>' is a raw key, anything else a
    /// passphrase (one trailing newline stripped). Else $SQLVAULT_KEY, else a prompt.
    #[arg(long, value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    #[command(flatten)]
    pub limits: KdfLimitOpts,
}

impl KeyOpts {
    /// The Argon2id cost this command is willing to pay (see [`KdfLimitOpts`]).
    pub fn limits(&self) -> KdfLimits {
        self.limits.limits()
    }
}

/// Caps on the Argon2id cost a database may demand. The cost is read from the file's
/// clear, unauthenticated salt, so without caps a planted header could pin the process
/// for minutes or exhaust memory. A new database's parameters must fit them too.
#[derive(Args, Debug, Clone, Default)]
pub struct KdfLimitOpts {
    /// Refuse databases demanding more Argon2id memory than this, in KiB [default: 1048576 (1 GiB)]
    #[arg(long, value_name = "KIB")]
    pub kdf_max_memory: Option<u32>,
    /// Refuse databases demanding more Argon2id passes than this [default: 16]
    #[arg(long, value_name = "N")]
    pub kdf_max_iterations: Option<u32>,
    /// Refuse databases demanding more Argon2id lanes than this [default: 16]
    #[arg(long, value_name = "N")]
    pub kdf_max_parallelism: Option<u32>,
}

impl KdfLimitOpts {
    /// The limits asked for, defaults filled in.
    pub fn limits(&self) -> KdfLimits {
        let d = KdfLimits::default();
        KdfLimits {
            max_memory_kib: self.kdf_max_memory.unwrap_or(d.max_memory_kib),
            max_iterations: self.kdf_max_iterations.unwrap_or(d.max_iterations),
            max_parallelism: self.kdf_max_parallelism.unwrap_or(d.max_parallelism),
        }
    }
}

/// Argon2id cost for a database that gets a new passphrase.
#[derive(Args, Debug, Clone)]
pub struct KdfOpts {
    /// Argon2id memory in KiB (a power of two) [default: 65536]
    #[arg(long, value_name = "KIB")]
    pub kdf_memory: Option<u32>,
    /// Argon2id passes over memory [default: 3]
    #[arg(long, value_name = "N")]
    pub kdf_iterations: Option<u32>,
    /// Argon2id lanes [default: 4]
    #[arg(long, value_name = "N")]
    pub kdf_parallelism: Option<u32>,
}

impl KdfOpts {
    /// The parameters asked for, defaults filled in, validated.
    pub fn params(&self) -> Result<Argon2Params, CliError> {
        let d = Argon2Params::default();
        let p = Argon2Params {
            memory_kib: self.kdf_memory.unwrap_or(d.memory_kib),
            iterations: self.kdf_iterations.unwrap_or(d.iterations),
            parallelism: self.kdf_parallelism.unwrap_or(d.parallelism),
        };
        p.validate()
            .map_err(|e| CliError::Failed(format!("bad Argon2 parameters: {e}")))?;
        Ok(p)
    }
}

/// Where to look for one key, in order: a file, an environment variable, a prompt.
pub struct KeySource<'a> {
    /// `--key-file` (or the like).
    pub file: Option<&'a Path>,
    /// The environment variable to try next.
    pub env: &'static str,
    /// What the prompt asks for.
    pub prompt: &'static str,
    /// Ask twice at the prompt (for a key being set, not checked).
    pub confirm: bool,
}

impl KeySource<'_> {
    /// Reads the key text. Errors if none is available (no file, no variable, no terminal).
    pub fn read(&self) -> Result<Zeroizing<String>, CliError> {
        let text = if let Some(path) = self.file {
            let bytes = Zeroizing::new(
                std::fs::read(path).map_err(|e| CliError::Io(format!("key file {}: {e}", path.display())))?,
            );
            let text = std::str::from_utf8(&bytes)
                .map_err(|_| CliError::Failed(format!("key file {} is not UTF-8", path.display())))?;
            Zeroizing::new(strip_newline(text).to_owned())
        } else if let Some(value) = super::secret_env::value(self.env) {
            // Taken out of the environment at start-up (see `secret_env`).
            let value = std::str::from_utf8(&value)
                .map_err(|_| CliError::Failed(format!("${} is not UTF-8", self.env)))?;
            Zeroizing::new(strip_newline(value).to_owned())
        } else {
            self.prompt()?
        };
        if text.is_empty() {
            return Err(CliError::Failed("the key is empty".into()));
        }
        Ok(text)
    }

    fn prompt(&self) -> Result<Zeroizing<String>, CliError> {
        let no_terminal = |e: std::io::Error| {
            CliError::Failed(format!(
                "no key given and no terminal to ask for one ({e}); use --key-file or ${}",
                self.env
            ))
        };
        let first =
            Zeroizing::new(rpassword::prompt_password(format!("{}: ", self.prompt)).map_err(no_terminal)?);
        if self.confirm {
            let again = Zeroizing::new(rpassword::prompt_password("again: ").map_err(no_terminal)?);
            if *again != *first {
                return Err(CliError::Failed("the two entries differ".into()));
            }
        }
        Ok(first)
    }

    /// Reads a key for a sqlvault database.
    pub fn sqlvault_key(&self) -> Result<Key, CliError> {
        Ok(Key::parse_pragma(&self.read()?))
    }
}

/// Strips one trailing `\n` (or `\r\n`).
fn strip_newline(text: &str) -> &str {
    let text = text.strip_suffix('\n').unwrap_or(text);
    text.strip_suffix('\r').unwrap_or(text)
}

/// The key of the database a command opens (`--key-file`, `$SQLVAULT_KEY`, prompt).
pub fn database_key(opts: &KeyOpts) -> Result<Key, CliError> {
    KeySource {
        file: opts.key_file.as_deref(),
        env: ENV_KEY,
        prompt: "key",
        confirm: false,
    }
    .sqlvault_key()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_trailing_newline_is_stripped() {
        assert_eq!(strip_newline("pass\n"), "pass");
        assert_eq!(strip_newline("pass\r\n"), "pass");
        assert_eq!(strip_newline("pass\n\n"), "pass\n");
        assert_eq!(strip_newline(" pass "), " pass ");
    }
}
