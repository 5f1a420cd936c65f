//! JWT verification: the key and rules from [`AuthConfig`], applied to the token of an
//! upgrade request and to `system/refreshToken`.

use std::borrow::Cow;
use std::str::FromStr;

use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind as JwtErrorKind;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::AuthUser;
use crate::config::{AuthConfig, ConfigError};
use crate::protocol::codes;

/// Why a token was refused: a stable `code` (one of the `TOKEN_*` codes in
/// [`codes`](crate::protocol::codes)) and a message safe to show the client. Neither
/// ever contains the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenError {
    code: &'static str,
    message: Cow<'static, str>,
}

impl TokenError {
    fn new(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The stable error code, e.g. `TOKEN_EXPIRED`.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// What went wrong, for the client.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn missing() -> Self {
        Self::new(codes::TOKEN_MISSING, "A token is required")
    }
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for TokenError {}

/// A verified token: the user it names and when it expires.
#[derive(Debug, Clone)]
pub(crate) struct Verified {
    pub(crate) user: AuthUser,
    /// The `sub` claim as sent (string or number), for the `auth/authenticated` frame.
    pub(crate) subject: Value,
    /// `exp` in Unix milliseconds, if the token has one.
    pub(crate) expires_at_ms: Option<u64>,
}

/// Checks tokens against the configured key and rules.
pub(crate) struct TokenVerifier {
    key: DecodingKey,
    /// `jwt_secret` read the other way (UTF-8 bytes vs PXL's base64url), to explain a
    /// signature failure in the log.
    other_reading: Option<SecretHint>,
    validation: Validation,
    roles_claim: String,
    pub(crate) required: bool,
    pub(crate) refresh_grace: std::time::Duration,
}

impl TokenVerifier {
    /// The verifier `config` describes, `None` when no key is set. With
    /// `secret_base64url` (`pxl.jwt_secret_base64url`), `jwt_secret` is decoded as PXL
    /// decodes `auth.jwtSecretKey`.
    pub(crate) fn from_config(
        config: &AuthConfig,
        secret_base64url: bool,
    ) -> Result<Option<Self>, ConfigError> {
        let keys = [
            config.jwt_secret.is_some(),
            config.jwt_secret_base64.is_some(),
            config.jwt_public_key_pem.is_some(),
        ];
        match keys.iter().filter(|k| **k).count() {
            0 if config.required => {
                return Err(ConfigError::invalid(
                    "auth.required",
                    "needs a key: set jwt_secret, jwt_secret_base64 or jwt_public_key_pem",
                ));
            }
            0 => return Ok(None),
            1 => {}
            _ => {
                return Err(ConfigError::invalid(
                    "auth",
                    "set only one of jwt_secret, jwt_secret_base64 and jwt_public_key_pem",
                ));
            }
        }
        if config.algorithms.is_empty() {
            return Err(ConfigError::invalid(
                "auth.algorithms",
                "must name at least one algorithm",
            ));
        }
        let mut algorithms = Vec::new();
        for name in &config.algorithms {
            let alg = Algorithm::from_str(name.trim()).map_err(|_| {
                ConfigError::invalid(
                    "auth.algorithms",
                    format!(
                        "`{name}` is not a supported algorithm (HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA; `none` is never accepted)"
                    ),
                )
            })?;
            algorithms.push(alg);
        }
        let family = algorithms[0].family();
        if algorithms.iter().any(|a| a.family() != family) {
            return Err(ConfigError::invalid(
                "auth.algorithms",
                "all algorithms must use the same kind of key (HMAC, RSA, EC or Ed25519)",
            ));
        }
        let mut other_reading = None;
        let key = if let Some(pem) = &config.jwt_public_key_pem {
            let pem = pem.as_bytes();
            let parsed = match family {
                AlgorithmFamily::Hmac => {
                    return Err(ConfigError::invalid(
                        "auth.algorithms",
                        "HS* algorithms need jwt_secret or jwt_secret_base64, not a public key",
                    ));
                }
                AlgorithmFamily::Rsa => DecodingKey::from_rsa_pem(pem),
                AlgorithmFamily::Ec => DecodingKey::from_ec_pem(pem),
                AlgorithmFamily::Ed => DecodingKey::from_ed_pem(pem),
            };
            parsed.map_err(|e| {
                ConfigError::invalid(
                    "auth.jwt_public_key_pem",
                    format!("not a {family:?} public key in PEM: {e}"),
                )
            })?
        } else {
            if family != AlgorithmFamily::Hmac {
                return Err(ConfigError::invalid(
                    "auth.algorithms",
                    "a secret verifies HS256, HS384 or HS512 only; asymmetric algorithms need jwt_public_key_pem",
                ));
            }
            let bytes = match (&config.jwt_secret, &config.jwt_secret_base64) {
                (Some(s), _) if secret_base64url => {
                    decode_base64(s.expose()).ok_or_else(|| {
                        ConfigError::invalid(
                            "auth.jwt_secret",
                            "is not valid base64url, which pxl.jwt_secret_base64url requires (PXL could not use it either)",
                        )
                    })?
                }
                (Some(s), _) => s.expose().as_bytes().to_vec(),
                (None, Some(b64)) => decode_base64(b64.expose()).ok_or_else(|| {
                    ConfigError::invalid("auth.jwt_secret_base64", "is not valid base64")
                })?,
                (None, None) => unreachable!("one key is set"),
            };
            if bytes.is_empty() {
                return Err(ConfigError::invalid("auth.jwt_secret", "must not be empty"));
            }
            if let Some(s) = &config.jwt_secret {
                other_reading = SecretHint::for_secret(s.expose(), secret_base64url);
            }
            DecodingKey::from_secret(&bytes)
                .map_err(|e| ConfigError::invalid("auth.jwt_secret", e.to_string()))?
        };
        let mut validation = Validation::new(algorithms[0]);
        validation.algorithms = algorithms;
        validation.leeway = config.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.required_spec_claims.clear();
        if config.require_exp {
            validation.required_spec_claims.insert("exp".into());
        }
        if config.issuer.is_empty() {
            validation.iss = None;
        } else {
            validation.set_issuer(&config.issuer);
            validation.required_spec_claims.insert("iss".into());
        }
        if config.audience.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&config.audience);
            validation.required_spec_claims.insert("aud".into());
        }
        Ok(Some(Self {
            key,
            other_reading,
            validation,
            roles_claim: config.roles_claim.clone(),
            required: config.required,
            refresh_grace: config.refresh_grace,
        }))
    }

    /// Verifies `token` and reads the user from it.
    pub(crate) fn verify(&self, token: &str) -> Result<Verified, TokenError> {
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &self.key, &self.validation)
            .map_err(|e| {
            if matches!(e.kind(), JwtErrorKind::InvalidSignature)
                && let Some(hint) = &self.other_reading
            {
                hint.explain(token, &self.validation);
            }
            self.refusal(token, e.kind())
        })?;
        let claims = data.claims;
        let subject = claims.get("sub").cloned().unwrap_or(Value::Null);
        let user_id = match &subject {
            Value::String(s) if !s.is_empty() => s.clone(),
            Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
            _ => {
                return Err(TokenError::new(
                    codes::TOKEN_CLAIMS_INVALID,
                    "The token has no user id: `sub` must be a non-empty string or an integer",
                ));
            }
        };
        let roles = match claims.get(&self.roles_claim) {
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(|r| r.as_str().map(String::from))
                .collect(),
            Some(Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        };
        let expires_at_ms = claims
            .get("exp")
            .and_then(Value::as_u64)
            .map(|s| s.saturating_mul(1000));
        Ok(Verified {
            user: AuthUser::new(user_id, roles, claims),
            subject,
            expires_at_ms,
        })
    }

    /// Why `token` was refused. A header naming an algorithm outside the list (`none`
    /// included, which the JWT library cannot even parse) is an algorithm refusal, and
    /// claims that are JSON of the wrong shape (e.g. `sub` an object), which fail inside
    /// the library as JSON errors, are a claims refusal.
    fn refusal(&self, token: &str, kind: &JwtErrorKind) -> TokenError {
        let alg = segment_json(token, 0).and_then(|h| h.get("alg")?.as_str().map(String::from));
        if let Some(alg) = alg
            && !Algorithm::from_str(&alg).is_ok_and(|a| self.validation.algorithms.contains(&a))
        {
            return TokenError::new(
                codes::TOKEN_ALGORITHM_NOT_ALLOWED,
                "The token's algorithm is not accepted",
            );
        }
        if matches!(kind, JwtErrorKind::Json(_))
            && segment_json(token, 1).is_some_and(|p| p.is_object())
        {
            return TokenError::new(
                codes::TOKEN_CLAIMS_INVALID,
                "The token's claims have the wrong types",
            );
        }
        map_error(kind)
    }
}

/// The other reading of `auth.jwt_secret`: a token refused for its signature that
/// verifies with it was signed by a peer that reads the secret the other way (PXL's
/// `generateJwtToken` signs with the base64url-decoding). Logged once per server, at
/// warn level, naming the setting; the client's 401 is unchanged.
struct SecretHint {
    key: DecodingKey,
    advice: &'static str,
    logged: std::sync::atomic::AtomicBool,
}

impl SecretHint {
    fn for_secret(secret: &str, base64url: bool) -> Option<Self> {
        let (bytes, advice) = if base64url {
            (
                secret.as_bytes().to_vec(),
                "a token was signed with the UTF-8 bytes of auth.jwt_secret, but                  pxl.jwt_secret_base64url reads the secret as base64url (as PXL does):                  turn pxl.jwt_secret_base64url off (PXL_WS_PXL_JWT_SECRET_BASE64URL=false)                  if the token issuer uses the secret as it is",
            )
        } else {
            (
                decode_base64(secret).filter(|b| !b.is_empty())?,
                "a token was signed with the base64url-decoding of auth.jwt_secret, as PXL's                  generateJwtToken does with auth.jwtSecretKey: set pxl.jwt_secret_base64url                  (PXL_WS_PXL_JWT_SECRET_BASE64URL=true), or give the same secret as                  jwt_secret_base64 (PXL_WS_JWT_SECRET_BASE64)",
            )
        };
        Some(Self {
            key: DecodingKey::from_secret(&bytes).ok()?,
            advice,
            logged: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn explain(&self, token: &str, validation: &Validation) {
        use std::sync::atomic::Ordering;
        if self.logged.load(Ordering::Relaxed) {
            return;
        }
        let verifies =
            match jsonwebtoken::decode::<Map<String, Value>>(token, &self.key, validation) {
                Ok(_) => true,
                Err(e) => !matches!(e.kind(), JwtErrorKind::InvalidSignature),
            };
        if verifies && !self.logged.swap(true, Ordering::Relaxed) {
            tracing::warn!(code = codes::TOKEN_SIGNATURE_INVALID, "{}", self.advice);
        }
    }
}

/// Segment `index` of a token (0 header, 1 claims) as JSON, if it decodes at all.
fn segment_json(token: &str, index: usize) -> Option<Value> {
    let bytes = decode_base64(token.split('.').nth(index)?)?;
    serde_json::from_slice(&bytes).ok()
}

/// Base64 in either alphabet, padded or not.
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let s = s.trim().trim_end_matches('=');
    URL_SAFE_NO_PAD
        .decode(s)
        .or_else(|_| STANDARD_NO_PAD.decode(s))
        .ok()
}

fn map_error(kind: &JwtErrorKind) -> TokenError {
    use JwtErrorKind as K;
    match kind {
        K::ExpiredSignature => TokenError::new(codes::TOKEN_EXPIRED, "The token has expired"),
        K::ImmatureSignature => TokenError::new(
            codes::TOKEN_NOT_YET_VALID,
            "The token is not valid yet (`nbf`)",
        ),
        K::InvalidSignature => TokenError::new(
            codes::TOKEN_SIGNATURE_INVALID,
            "The token's signature does not verify",
        ),
        K::InvalidAlgorithm | K::MissingAlgorithm | K::UnsupportedAlgorithm => TokenError::new(
            codes::TOKEN_ALGORITHM_NOT_ALLOWED,
            "The token's algorithm is not accepted",
        ),
        K::InvalidIssuer => TokenError::new(
            codes::TOKEN_CLAIMS_INVALID,
            "The token's issuer (`iss`) is not accepted",
        ),
        K::InvalidAudience => TokenError::new(
            codes::TOKEN_CLAIMS_INVALID,
            "The token's audience (`aud`) is not accepted",
        ),
        K::MissingRequiredClaim(c) => TokenError::new(
            codes::TOKEN_CLAIMS_INVALID,
            format!("The token lacks the required claim `{c}`"),
        ),
        K::InvalidClaimFormat(c) => TokenError::new(
            codes::TOKEN_CLAIMS_INVALID,
            format!("The token's claim `{c}` has the wrong type"),
        ),
        _ => TokenError::new(codes::TOKEN_MALFORMED, "The token is not a well-formed JWT"),
    }
}

/// The token of an upgrade request: `Authorization: Bearer <token>` first, else the
/// `token` query parameter (PXL's way). Empty values count as absent.
pub(crate) fn token_from_request(req: &axum::extract::Request) -> Option<String> {
    if let Some(v) = req.headers().get(axum::http::header::AUTHORIZATION) {
        let v = v.to_str().unwrap_or_default().trim();
        if let Some((scheme, token)) = v.split_once(' ')
            && scheme.eq_ignore_ascii_case("bearer")
            && !token.trim().is_empty()
        {
            return Some(token.trim().to_owned());
        }
    }
    req.uri().query()?;
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(req.uri())
        .ok()?
        .0
        .into_iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v)
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn hs(secret: &str) -> AuthConfig {
        AuthConfig {
            jwt_secret: Some(Secret::new(secret)),
            ..Default::default()
        }
    }

    fn err(config: &AuthConfig) -> String {
        match TokenVerifier::from_config(config, false) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("config accepted"),
        }
    }

    #[test]
    fn no_key_means_no_verifier_unless_required() {
        assert!(
            TokenVerifier::from_config(&AuthConfig::default(), false)
                .unwrap()
                .is_none()
        );
        let required = AuthConfig {
            required: true,
            ..Default::default()
        };
        assert!(err(&required).contains("auth.required"));
    }

    #[test]
    fn misconfigurations_are_refused_with_the_setting_named() {
        let mut two = hs("s");
        two.jwt_public_key_pem = Some("pem".into());
        assert!(err(&two).contains("set only one of"));
        let mut none = hs("s");
        none.algorithms = vec!["none".into()];
        assert!(err(&none).contains("`none` is never accepted"));
        let mut rs_with_secret = hs("s");
        rs_with_secret.algorithms = vec!["RS256".into()];
        assert!(err(&rs_with_secret).contains("asymmetric algorithms need jwt_public_key_pem"));
        let mut mixed = hs("s");
        mixed.algorithms = vec!["HS256".into(), "RS256".into()];
        assert!(err(&mixed).contains("same kind of key"));
        let bad_pem = AuthConfig {
            jwt_public_key_pem: Some("not a key".into()),
            algorithms: vec!["RS256".into()],
            ..Default::default()
        };
        assert!(err(&bad_pem).contains("auth.jwt_public_key_pem"));
        let bad_b64 = AuthConfig {
            jwt_secret_base64: Some(Secret::new("***")),
            ..Default::default()
        };
        assert!(err(&bad_b64).contains("not valid base64"));
        assert!(err(&hs("")).contains("must not be empty"));
    }

    #[test]
    fn base64_secrets_accept_both_alphabets_with_or_without_padding() {
        assert_eq!(decode_base64("-_8").unwrap(), vec![0xfb, 0xff]);
        assert_eq!(decode_base64("+/8=").unwrap(), vec![0xfb, 0xff]);
        assert_eq!(decode_base64("aGk").unwrap(), b"hi");
        assert!(decode_base64("a").is_none());
    }

    #[test]
    fn token_errors_never_echo_the_token() {
        let v = TokenVerifier::from_config(&hs("secret"), false)
            .unwrap()
            .unwrap();
        let token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
        let e = v.verify(token).unwrap_err();
        assert_eq!(e.code(), codes::TOKEN_SIGNATURE_INVALID);
        for part in token.split('.') {
            assert!(!e.to_string().contains(part));
        }
    }
}
