//! Enums stored as text columns whose CHECK constraints list the same names.

/// Declares an enum whose variants map to fixed lowercase names, with
/// `as_str`, a parser for values read from `column`, `Display` and serde
/// under the same names.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident in $column:literal {
            $($(#[$variant_meta:meta])* $variant:ident = $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$variant_meta])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// Returns the name stored in the database and used in JSON.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }

            /// Parses a name read from the database.
            pub(crate) fn from_column(value: &str) -> $crate::error::Result<Self> {
                match value {
                    $($text => Ok(Self::$variant),)+
                    _ => Err($crate::error::StoreError::InvalidStoredValue {
                        column: $column,
                        value: value.to_owned(),
                    }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use text_enum;
