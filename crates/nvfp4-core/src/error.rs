//! The one error type of the core crate.
//!
//! Every fallible function of the workspace's numerics and planning returns [`Error`]; the
//! higher crates wrap it. Variants carry the offending values so that a message names the
//! problem without a debugger.

use core::fmt;

/// What was wrong with a shape, a buffer or a scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A reduction dimension (K, H or I) is not a multiple of the 16-element block.
    NotBlockMultiple {
        /// Which dimension ("K", "hidden", "intermediate").
        dim: &'static str,
        /// Its value.
        value: usize,
    },
    /// A dimension that must be positive is zero.
    ZeroDim {
        /// Which dimension.
        dim: &'static str,
    },
    /// A size computation overflowed `usize`.
    Overflow {
        /// What was being sized.
        what: &'static str,
    },
    /// A caller buffer has the wrong length.
    BufferLen {
        /// Which buffer.
        what: &'static str,
        /// The length the operation needs.
        expected: usize,
        /// The length it was given.
        got: usize,
    },
    /// A global scale (`gs`, `dec` or an `amax`) is NaN, infinite, zero or negative where that is
    /// not allowed (SPEC section 2). The value is given as its bit pattern so that NaN payloads
    /// survive and the type stays `Eq`.
    BadScale {
        /// Which scale.
        what: &'static str,
        /// `f32::to_bits` of the value.
        bits: u32,
    },
    /// An expert id outside `[-1, E)` (SPEC section 6.1).
    BadExpertId {
        /// Token index.
        token: usize,
        /// Slot index inside the token's top-k.
        slot: usize,
        /// The id found.
        id: i32,
    },
    /// A parameter outside its allowed range (for example top-k larger than the expert count, or
    /// an empty local expert range).
    InvalidParam {
        /// Which parameter.
        what: &'static str,
        /// Its value.
        value: usize,
    },
    /// More rows were requested than the plan was sized for.
    TooManyRows {
        /// Rows requested.
        rows: usize,
        /// The plan's maximum.
        max: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::NotBlockMultiple { dim, value } => {
                write!(
                    f,
                    "{dim} = {value} is not a multiple of the 16-element NVFP4 block"
                )
            }
            Error::ZeroDim { dim } => write!(f, "{dim} must be positive"),
            Error::Overflow { what } => write!(f, "size of {what} overflows usize"),
            Error::BufferLen {
                what,
                expected,
                got,
            } => {
                write!(f, "buffer {what} has length {got}, expected {expected}")
            }
            Error::BadScale { what, bits } => write!(
                f,
                "scale {what} = {} (bits {bits:#010x}) must be finite and positive",
                f32::from_bits(bits)
            ),
            Error::BadExpertId { token, slot, id } => {
                write!(
                    f,
                    "expert id {id} at token {token}, slot {slot} is outside [-1, E)"
                )
            }
            Error::InvalidParam { what, value } => write!(f, "invalid {what} = {value}"),
            Error::TooManyRows { rows, max } => {
                write!(f, "{rows} rows requested, the plan holds at most {max}")
            }
        }
    }
}

impl core::error::Error for Error {}

/// Result alias of the core crate.
pub type Result<T> = core::result::Result<T, Error>;

/// Checks that a buffer has exactly the expected length.
pub fn check_len(what: &'static str, expected: usize, got: usize) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(Error::BufferLen {
            what,
            expected,
            got,
        })
    }
}
