//! Token minting for tests: HS256 with any secret, RS256 and ES256 with the key pairs in
//! `tests/fixtures/` (test-only keys).

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

/// The RSA public key matching [`rs256`].
pub const RSA_PUBLIC_PEM: &str = include_str!("../fixtures/rsa-public.pem");
const RSA_PRIVATE_PEM: &str = include_str!("../fixtures/rsa-private.pem");
/// The P-256 public key matching [`es256`].
pub const EC_PUBLIC_PEM: &str = include_str!("../fixtures/ec-public.pem");
const EC_PRIVATE_PEM: &str = include_str!("../fixtures/ec-private.pem");

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// Claims for `sub` valid for an hour.
pub fn claims(sub: impl Into<Value>) -> Value {
    json!({ "sub": sub.into(), "exp": now() + 3600, "iat": now() })
}

/// An HS256 token signed with `secret`.
pub fn hs256(secret: &[u8], claims: &Value) -> String {
    let key = EncodingKey::from_secret(secret).expect("HMAC key");
    sign(Algorithm::HS256, &key, claims)
}

/// An RS256 token signed with the fixture RSA key.
pub fn rs256(claims: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(RSA_PRIVATE_PEM.as_bytes()).expect("fixture RSA key");
    sign(Algorithm::RS256, &key, claims)
}

/// An ES256 token signed with the fixture P-256 key.
pub fn es256(claims: &Value) -> String {
    let key = EncodingKey::from_ec_pem(EC_PRIVATE_PEM.as_bytes()).expect("fixture EC key");
    sign(Algorithm::ES256, &key, claims)
}

fn sign(alg: Algorithm, key: &EncodingKey, claims: &Value) -> String {
    encode(&Header::new(alg), claims, key).expect("token encodes")
}

/// An unsigned token (`alg: none`) carrying `claims`.
pub fn unsigned(claims: &Value) -> String {
    use base64::Engine as _;
    let b64 = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
    };
    format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(claims)
    )
}

/// A token as PXL's `generateJwtToken` makes it: HS256 with the key
/// `importJWK({kty: "oct", k: jwt_secret_key})`, i.e. the base64url-decoding of the
/// configured secret string, not its UTF-8 bytes.
pub fn pxl_hs256(jwt_secret_key: &str, claims: &Value) -> String {
    use base64::Engine as _;
    let key = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jwt_secret_key.trim_end_matches('='))
        .expect("PXL secrets are base64url");
    hs256(&key, claims)
}
