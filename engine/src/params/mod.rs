//! Typed stage parameters: the schema a stage declares ([`ParamSpec`]) and the
//! [`stage_params!`] macro that derives the serde struct and its schema from one declaration.

pub mod rule;

use std::collections::BTreeMap;

/// Resolved parameters of one stage instance, sorted by name.
pub type ParamTable = BTreeMap<String, toml::Value>;

/// One declared parameter of a stage kind.
#[derive(Clone)]
pub struct ParamSpec {
    pub name: &'static str,
    pub doc: &'static str,
    /// Rust type as written in the declaration (used in "expected ..." messages).
    pub ty: &'static str,
    /// `None` = required.
    pub default: Option<toml::Value>,
    /// Type check of a value: `Err(reason)` when it does not deserialize into the field type.
    pub check: fn(&toml::Value) -> Result<(), String>,
    /// Range, choices, shape and key membership (`=> rule` in [`stage_params!`]).
    pub rule: crate::params::rule::ParamRule,
}

impl std::fmt::Debug for ParamSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParamSpec")
            .field("name", &self.name)
            .field("ty", &self.ty)
            .field("default", &self.default)
            .field("rule", &self.rule)
            .finish()
    }
}

/// Implemented by structs declared with [`stage_params!`].
pub trait ParamsSchema {
    fn specs() -> Vec<ParamSpec>;
}

/// Check one value against type `T` by deserializing it.
pub fn check_as<T: serde::de::DeserializeOwned>(v: &toml::Value) -> Result<(), String> {
    v.clone().try_into::<T>().map(|_| ()).map_err(|e| {
        let s = e.to_string();
        s.lines().next().unwrap_or("").trim().to_string()
    })
}

/// Serialize a default value into a TOML value.
pub fn to_value<T: serde::Serialize>(v: &T) -> toml::Value {
    toml::Value::try_from(v).expect("parameter defaults serialise to TOML")
}

/// Decode a resolved parameter table into the stage's typed struct.
pub fn decode<P: serde::de::DeserializeOwned>(t: &ParamTable) -> Result<P, String> {
    let table: toml::Table = t.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    toml::Value::Table(table)
        .try_into::<P>()
        .map_err(|e| e.to_string())
}

/// Declare a stage's parameter struct and its schema at once. A field may end in
/// `=> rule`, a [`ParamRule`](crate::params::rule::ParamRule) the planner checks and
/// `synface kinds` documents:
///
/// ```
/// synface_engine::stage_params! {
///     /// Parameters of a toy stage.
///     pub struct ToyParams {
///         /// number of things (required)
///         n: u32,
///         /// scale factor
///         scale: f64 = 1.0 => synface_engine::params::rule::ParamRule::above(0.0),
///     }
/// }
/// use synface_engine::ParamsSchema;
/// assert_eq!(ToyParams::specs().len(), 2);
/// ```
#[macro_export]
macro_rules! stage_params {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[doc = $doc:literal])* $field:ident : $ty:ty $(= $default:expr)?
                $(=> $rule:expr)? ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
        #[serde(deny_unknown_fields)]
        $vis struct $name {
            $( $(#[doc = $doc])* pub $field: $ty, )*
        }
        impl $crate::params::ParamsSchema for $name {
            fn specs() -> Vec<$crate::params::ParamSpec> {
                vec![ $( $crate::params::ParamSpec {
                    name: stringify!($field),
                    doc: concat!($($doc),*),
                    ty: stringify!($ty),
                    default: $crate::__param_default!($ty $(, $default)?),
                    check: $crate::params::check_as::<$ty>,
                    rule: $crate::__param_rule!($($rule)?),
                } ),* ]
            }
        }
    };
}

/// Declare a parameter whose value is one of a few names, as a serde enum: each variant is
/// written `Variant = "name"`. Gives `NAMES` (for [`ParamRule::one_of`](crate::ParamRule::one_of),
/// so `synface kinds` lists them and the planner suggests the nearest), `name()` and `Display`.
///
/// ```
/// synface_engine::param_enum! {
///     /// How loud.
///     pub enum Volume {
///         /// barely
///         Low = "low",
///         High = "high",
///     }
/// }
/// assert_eq!(Volume::NAMES, &["low", "high"]);
/// assert_eq!(Volume::High.to_string(), "high");
/// let v: Volume = toml::Value::String("low".into()).try_into().unwrap();
/// assert_eq!(v, Volume::Low);
/// ```
#[macro_export]
macro_rules! param_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[doc = $doc:literal])* $var:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
        $vis enum $name {
            $( $(#[doc = $doc])* #[serde(rename = $text)] $var, )+
        }
        impl $name {
            /// The names a pipeline file writes, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];
            /// This value's name in a pipeline file.
            pub fn name(self) -> &'static str {
                match self {
                    $( $name::$var => $text, )+
                }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __param_default {
    ($ty:ty) => {
        None
    };
    ($ty:ty, $default:expr) => {
        Some($crate::params::to_value::<$ty>(&($default).into()))
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __param_rule {
    () => {
        $crate::params::rule::ParamRule::NONE
    };
    ($rule:expr) => {
        $rule
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::stage_params! {
        struct P {
            /// required count
            n: u32,
            scale: f64 = 0.5,
            name: String = "x",
            grid: Vec<f64> = vec![0.0, 1.0],
        }
    }

    #[test]
    fn schema_and_decode() {
        let specs = P::specs();
        assert_eq!(specs[0].name, "n");
        assert!(specs[0].default.is_none());
        assert_eq!(specs[1].default, Some(toml::Value::Float(0.5)));
        assert!((specs[0].check)(&toml::Value::Integer(3)).is_ok());
        assert!((specs[0].check)(&toml::Value::String("a".into())).is_err());
        let mut t = ParamTable::new();
        t.insert("n".into(), toml::Value::Integer(3));
        for s in &specs[1..] {
            t.insert(s.name.into(), s.default.clone().unwrap());
        }
        let p: P = decode(&t).unwrap();
        assert_eq!(p.n, 3);
        assert_eq!(p.name, "x");
        t.insert("bogus".into(), toml::Value::Integer(1));
        assert!(decode::<P>(&t).is_err());
    }
}

/// A plan-time problem with one parameter of one stage (reported with the value's position).
#[derive(Debug, Clone, PartialEq)]
pub struct ParamIssue {
    /// Parameter name (the key whose value is at fault), or "" for the stage as a whole.
    pub param: String,
    pub message: String,
}

impl ParamIssue {
    /// A problem with parameter `param` ("" for the stage as a whole).
    pub fn new(param: &str, message: impl Into<String>) -> Self {
        ParamIssue {
            param: param.to_string(),
            message: message.into(),
        }
    }
    /// The issue of a check's result, if it failed.
    pub fn of<T>(param: &str, checked: Result<T, String>) -> Option<Self> {
        checked.err().map(|m| ParamIssue::new(param, m))
    }
}
