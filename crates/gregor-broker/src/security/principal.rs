//! Kafka's `KafkaPrincipal`: a type and a name, written `User:alice`.

use std::fmt;

/// The principal type every built-in authenticator produces.
pub const USER_TYPE: &str = "User";

/// An authenticated identity, compared exactly as ACLs name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    pub principal_type: String,
    pub name: String,
}

impl Principal {
    pub fn user(name: impl Into<String>) -> Principal {
        Principal {
            principal_type: USER_TYPE.to_string(),
            name: name.into(),
        }
    }

    /// What a PLAINTEXT connection (or SSL without a client certificate) is.
    pub fn anonymous() -> Principal {
        Principal::user("ANONYMOUS")
    }

    /// Parses `Type:name` as `super.users` and ACLs write it; the name may
    /// itself contain colons (a DN rarely does, but Kafka splits once too).
    pub fn parse(text: &str) -> Option<Principal> {
        let (principal_type, name) = text.split_once(':')?;
        if principal_type.is_empty() {
            return None;
        }
        Some(Principal {
            principal_type: principal_type.to_string(),
            name: name.to_string(),
        })
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.principal_type, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_as_kafka_writes_principals() {
        let alice = Principal::parse("User:alice").unwrap();
        assert_eq!(alice, Principal::user("alice"));
        assert_eq!(alice.to_string(), "User:alice");
        let dn = Principal::parse("User:CN=a,OU=b").unwrap();
        assert_eq!(dn.name, "CN=a,OU=b");
        assert_eq!(Principal::parse("alice"), None);
        assert_eq!(Principal::parse(":alice"), None);
        assert_eq!(Principal::anonymous().to_string(), "User:ANONYMOUS");
    }
}
