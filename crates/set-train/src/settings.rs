//! Validated setting types: each range is checked once, where a value enters (a constructor or
//! deserialisation), and inner code takes the checked type. Each type has one default.

use crate::error::SettingError;
use serde::{Deserialize, Serialize};

macro_rules! checked_f64 {
    ($(#[$m:meta])* $name:ident, $key:literal, $default:expr, $expected:literal, |$v:ident| $ok:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
        #[serde(try_from = "f64", into = "f64")]
        pub struct $name(f64);

        impl $name {
            /// The default value.
            pub const DEFAULT: $name = $name($default);

            /// The value, if it is in range.
            ///
            /// # Errors
            /// [`SettingError`] naming the setting and the accepted range.
            pub fn new($v: f64) -> Result<Self, SettingError> {
                if $ok {
                    Ok($name($v))
                } else {
                    Err(SettingError {
                        key: $key,
                        value: $v.to_string(),
                        expected: $expected,
                    })
                }
            }

            /// The checked value.
            pub fn get(self) -> f64 {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::DEFAULT
            }
        }

        impl TryFrom<f64> for $name {
            type Error = SettingError;
            fn try_from(v: f64) -> Result<Self, SettingError> {
                Self::new(v)
            }
        }

        impl From<$name> for f64 {
            fn from(v: $name) -> f64 {
                v.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

checked_f64!(
    /// SET's Erdős–Rényi sparsity level: an `n_out x n_in` matrix gets density
    /// `epsilon (n_in + n_out) / (n_in n_out)` (capped at 1). Finite and > 0; default 5.
    ///
    /// ```
    /// assert_eq!(set_train::Epsilon::default().get(), 5.0);
    /// assert!(set_train::Epsilon::new(0.0).is_err());
    /// ```
    Epsilon, "epsilon", 5.0, "a finite number > 0", |v| v.is_finite() && v > 0.0
);
checked_f64!(
    /// A fraction of stored weights, in (0, 1]; default 0.04.
    ///
    /// ```
    /// assert!(set_train::Density::new(1.0).is_ok());
    /// assert!(set_train::Density::new(0.0).is_err());
    /// ```
    Density, "density", 0.04, "a density in (0, 1]", |v| v.is_finite() && v > 0.0 && v <= 1.0
);
checked_f64!(
    /// The fraction of each sparse matrix's connections pruned and regrown per evolution step,
    /// in [0, 1]; default 0.3 (SET's `zeta`).
    ///
    /// ```
    /// assert_eq!(set_train::Zeta::default().get(), 0.3);
    /// ```
    Zeta, "zeta", 0.3, "a fraction in [0, 1]", |v| v.is_finite() && (0.0..=1.0).contains(&v)
);
checked_f64!(
    /// A dropout probability, in [0, 1); default 0.2.
    ///
    /// ```
    /// assert!(set_train::DropoutRate::new(1.0).is_err());
    /// ```
    DropoutRate, "dropout", 0.2, "a probability in [0, 1)", |v| v.is_finite() && (0.0..1.0).contains(&v)
);

macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $text:literal),+ $(,)? } default $default:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            $($(#[$vm])* $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// Every name, in declaration order (for command-line help).
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The lower-case name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        "`{other}` is not one of {}",
                        Self::NAMES.join(", ")
                    )),
                }
            }
        }

        const _: () = {
            // The default variant.
            let _ = $name::$default;
        };
    };
}

named_enum!(
    /// Topology evolution policies.
    ///
    /// ```
    /// assert_eq!("rigl".parse::<set_train::PolicyName>().unwrap(), set_train::PolicyName::Rigl);
    /// ```
    PolicyName {
        /// Sparse Evolutionary Training: prune smallest |w| per sign, regrow at random.
        #[default]
        Set = "set",
        /// RigL: prune smallest |w|, regrow where |gradient| is largest.
        Rigl = "rigl",
        /// Sparse momentum: like RigL, budget moved between matrices by mean |momentum|.
        Snfs = "snfs",
        /// Fixed random topology.
        Static = "static",
        /// Gradual magnitude pruning (Zhu & Gupta): every matrix starts full and is pruned on
        /// a cubic schedule to the density the sparsity setting gives; nothing regrows.
        Gmp = "gmp",
    } default Set
);

named_enum!(
    /// Optimizers.
    OptimizerName {
        /// SGD with heavy-ball momentum.
        Sgd = "sgd",
        /// Adam.
        #[default]
        Adam = "adam",
    } default Adam
);

named_enum!(
    /// How the prune fraction changes over the evolution steps.
    ScheduleName {
        /// The same `zeta` at every step (SET).
        #[default]
        Constant = "constant",
        /// Cosine decay from `zeta` to 0 at the last epoch (Selfish-RNN, RigL).
        Cosine = "cosine",
    } default Constant
);

named_enum!(
    /// How the learning rate changes over the optimizer steps (after any warm-up).
    LrScheduleName {
        /// The same learning rate at every step.
        #[default]
        Constant = "constant",
        /// Cosine decay from the learning rate to 0 at the last step.
        Cosine = "cosine",
        /// Linear decay from the learning rate to 0 at the last step.
        Linear = "linear",
    } default Constant
);
