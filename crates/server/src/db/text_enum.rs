//! `text_enum!`: an enum stored as text in SQLite and sent as the same text
//! by the API (SSM's `Connected`, `ConnectionLost`, …), with `as_str`,
//! `Display`, `Serialize`, `ToSql` and `FromSql`. A value in the database
//! that is none of them is an error, never a default.

#[macro_export]
macro_rules! text_enum {
    ($(#[$doc:meta])* $vis:vis enum $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            pub fn parse(s: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl rusqlite::types::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(self.as_str().into())
            }
        }

        impl rusqlite::types::FromSql for $name {
            fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
                let text = v.as_str()?;
                $name::parse(text).ok_or_else(|| {
                    rusqlite::types::FromSqlError::Other(
                        format!("{text:?} is not a {}", stringify!($name)).into(),
                    )
                })
            }
        }
    };
}

#[cfg(test)]
mod tests {
    crate::text_enum! {
        enum Light {
            Red = "RED",
            Green = "GREEN",
        }
    }

    #[test]
    fn values_round_trip_and_a_stranger_is_an_error() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t(v TEXT)").unwrap();
        conn.execute("INSERT INTO t VALUES (?1)", [Light::Green])
            .unwrap();
        let v: Light = conn.query_row("SELECT v FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!((v, v.to_string()), (Light::Green, "GREEN".to_owned()));
        assert_eq!(serde_json::to_string(&Light::Red).unwrap(), r#""RED""#);
        conn.execute("UPDATE t SET v = 'BLUE'", []).unwrap();
        let e = conn
            .query_row("SELECT v FROM t", [], |r| r.get::<_, Light>(0))
            .unwrap_err();
        assert!(e.to_string().contains("\"BLUE\" is not a Light"), "{e}");
    }
}
