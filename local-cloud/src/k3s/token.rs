//! k3s join tokens (`pkg/clientaccess/token.go`): the secure form
//! `K10<sha256 of the cluster CA>::<user>:<password>`, the bare password (`K10:::<password>`,
//! no CA pinning), and the checks a joining node makes against the server's `/cacerts`.

use sha2::{Digest, Sha256};

/// A parsed token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Lowercase hex sha256 of the CA bundle the token pins, if it pins one.
    pub ca_hash: Option<String>,
    /// `server`, `node`, or empty for a bare password.
    pub username: String,
    pub password: String,
}

/// Why a token was refused (k3s's messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token must not be empty")]
    Empty,
    #[error("invalid token CA hash length")]
    HashLength,
    #[error("invalid token format")]
    Format,
}

impl Token {
    /// Parses a token as k3s does.
    pub fn parse(text: &str) -> Result<Token, TokenError> {
        let t = text.trim();
        if t.is_empty() {
            return Err(TokenError::Empty);
        }
        let Some(rest) = t.strip_prefix("K10") else {
            // A bare password.
            return Ok(Token {
                ca_hash: None,
                username: String::new(),
                password: t.to_owned(),
            });
        };
        let (hash, creds) = rest.split_once("::").ok_or(TokenError::Format)?;
        if !hash.is_empty() && hash.len() != 64 {
            return Err(TokenError::HashLength);
        }
        let (username, password) = match creds.split_once(':') {
            Some((u, p)) => (u.to_owned(), p.to_owned()),
            None => (String::new(), creds.to_owned()),
        };
        if password.is_empty() {
            return Err(TokenError::Format);
        }
        Ok(Token {
            ca_hash: (!hash.is_empty()).then(|| hash.to_ascii_lowercase()),
            username,
            password,
        })
    }

    /// The secure form for `user` with the CA bundle `ca_pem` pinned.
    pub fn secure(ca_pem: &[u8], user: &str, password: &str) -> String {
        format!("K10{}::{user}:{password}", ca_hash(ca_pem))
    }
}

/// sha256 of the exact CA bytes `/cacerts` serves, lowercase hex.
pub fn ca_hash(ca_pem: &[u8]) -> String {
    hex::encode(Sha256::digest(ca_pem))
}

/// A new random password: 16 random bytes as 32 hex characters, as k3s generates.
pub fn random_password() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secure_bare_and_broken_tokens() {
        let t = Token::parse(&Token::secure(b"CA", "server", "pw")).unwrap();
        assert_eq!(t.ca_hash.as_deref(), Some(ca_hash(b"CA").as_str()));
        assert_eq!((t.username.as_str(), t.password.as_str()), ("server", "pw"));
        let bare = Token::parse("secret\n").unwrap();
        assert_eq!((bare.ca_hash, bare.password.as_str()), (None, "secret"));
        assert_eq!(
            Token::parse("K10abc::server:pw"),
            Err(TokenError::HashLength)
        );
        assert_eq!(Token::parse("K10nocolons"), Err(TokenError::Format));
        assert_eq!(Token::parse(" "), Err(TokenError::Empty));
        assert_eq!(random_password().len(), 32);
    }
}
