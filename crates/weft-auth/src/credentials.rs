//! What the caller presented.

/// What the caller presented in its `Authorization` header (how it is read is the HTTP
/// layer's business).
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    None,
    Basic { username: String, password: String },
    Bearer(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Self::Bearer(_) => f.write_str("Bearer(***)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_debug_hides_secrets() {
        let c = Credentials::Basic {
            username: "u".into(),
            password: "p4ss".into(),
        };
        assert!(!format!("{c:?}").contains("p4ss"));
        assert!(!format!("{:?}", Credentials::Bearer("tok".into())).contains("tok"));
    }
}
