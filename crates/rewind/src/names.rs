//! The names of the closed choices a run is made of (model family, backend, activation), as
//! the command line, plans, reports and code files spell them. Each enum gets its table once,
//! through [`crate::named_enum!`], and from it `FromStr`, `Display`, serde and [`Named`]; no
//! other code matches these names against strings (docs/design.md §7).

/// A name that is not one of the choices; the message lists the valid ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} '{value}'; use one of {expected}")]
pub struct NameError {
    /// What was being named: "model", "backend", "activation".
    pub what: &'static str,
    /// The name given.
    pub value: String,
    /// The valid names, comma-separated.
    pub expected: &'static str,
}

/// A closed choice with one name table: what a front end needs to list and parse it.
pub trait Named: Copy + std::fmt::Display + std::str::FromStr<Err = NameError> + 'static {
    /// Every choice, in the order of the table.
    const ALL: &'static [Self];

    /// The name as the command line, plans and reports spell it.
    fn name(self) -> &'static str;
}

/// Gives a fieldless enum its one name table: `name()`, `ALL`, `FromStr` (errors are
/// [`NameError`]), `Display`, serde as the name, and [`Named`] (which a front end such as
/// the CLI turns into its list of possible values).
#[macro_export]
macro_rules! named_enum {
    ($ty:ty, $what:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every choice, in the order of the table.
            pub const ALL: &'static [$ty] = &[$(<$ty>::$variant),+];

            /// The name as the command line, plans and reports spell it.
            pub fn name(self) -> &'static str {
                match self {
                    $(<$ty>::$variant => $name),+
                }
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::names::NameError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok(<$ty>::$variant),)+
                    _ => Err($crate::names::NameError {
                        what: $what,
                        value: s.to_string(),
                        expected: concat!($($name, ", "),+).trim_end_matches(", "),
                    }),
                }
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(::serde::de::Error::custom)
            }
        }

        impl $crate::names::Named for $ty {
            const ALL: &'static [Self] = <$ty>::ALL;

            fn name(self) -> &'static str {
                <$ty>::name(self)
            }
        }
    };
}
