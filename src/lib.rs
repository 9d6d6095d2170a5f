//! placeholder

pub mod sqlcipher;
