//! A token pair and the key that signed it, as Tessera issued them (from a throwaway key, with
//! `public_url` http://127.0.0.1:7001), for the examples of the OpenAPI documents: what a client
//! generator or a Swagger UI reader sees is what the service really sends.

/// The access token of account 1, `asha`.
pub const ACCESS: &str = concat!(
    "eyJhbGciOiJSUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6ImZES3hFVjdzQzlvaFRQMXp5NFpHem1Bdk9neEdK",
    "QnhGd1VoY2pldlIweDgifQ.eyJpc3MiOiJodHRwOi8vMTI3LjAuMC4xOjcwMDEiLCJhdWQiOiJ0ZXNzZXJhIiwic",
    "3ViIjoiMSIsImV4cCI6MTc5NjMwODU3NSwiaWF0IjoxNzk2MzA4Mjc1LCJqdGkiOiIyMjY4YmY2NDg4MzU0MGQ5Y",
    "TA2ZTQ2MzM4OThjNjYxNCIsImNsaWVudF9pZCI6InRlc3NlcmEiLCJ0b2tlbl90eXBlIjoiYWNjZXNzIiwidXNlc",
    "l9pZCI6MSwicm9sZSI6ImN1c3RvbWVyIiwidXNlcm5hbWUiOiJhc2hhIiwic2lkIjoiMzRlZWUwZTgtNzYxYy00M",
    "TNhLThjODUtYjMwMzE1ZTFkMjIyIn0.ZCLd8tS_G6E8AfmlOx75JzbQkxhGsRRdj5TL4X3bdWJYW76VkHzQ1MV_k",
    "eDFA4mZ1088YVb_UItwwhgaM8ns-9OOi7_en3IcHxqK1wUIwW7ly7_pq-sgpHVotQy5ZjzBOud_kI0izR3JsX6AB",
    "qWsF3Q6_DwAwt-b1zls80C_49qbMUVb7vAsKD6HIFPXhTlH7lNJmZoB9tJa6QZkFNlFG6cmRqjzQh4jVMdV-ZpvH",
    "H6JICdAzN1Ciltt1MSpdHM4iJ0xT6rk4rX3XZRNflonEsYs-OV4tr5Tf_WKTpgh9PP4IOzjcSVq587VgSUczjHDY",
    "bjiMYJ_BmzCR_k1RBQuTw",
);

/// The refresh token issued with [`ACCESS`], in session [`SESSION`].
pub const REFRESH: &str = concat!(
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImZES3hFVjdzQzlvaFRQMXp5NFpHem1Bdk9neEdKQnhG",
    "d1VoY2pldlIweDgifQ.eyJpc3MiOiJodHRwOi8vMTI3LjAuMC4xOjcwMDEiLCJzdWIiOiIxIiwiZXhwIjoxNzk2M",
    "zk0Njc1LCJpYXQiOjE3OTYzMDgyNzUsImp0aSI6IjgxZDE4MjM5MmQzZTQxM2RiNTk4NGU1ZjBiNzI2NjIzIiwiZ",
    "mFtIjoiMzRlZWUwZTgtNzYxYy00MTNhLThjODUtYjMwMzE1ZTFkMjIyIiwiYXV0aF90aW1lIjoxNzk2MzA4Mjc1L",
    "CJ0b2tlbl90eXBlIjoicmVmcmVzaCIsInVzZXJfaWQiOjEsInJvbGUiOiJjdXN0b21lciIsInVzZXJuYW1lIjoiY",
    "XNoYSJ9.XUu3MWCsuZdtYddrZGV-KH1-Ael4va2YQA-RuwRcBGo",
);

/// What refreshing [`REFRESH`] gave, 17 minutes later: a new access token in the same session
pub const REFRESHED_ACCESS: &str = concat!(
    "eyJhbGciOiJSUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6ImZES3hFVjdzQzlvaFRQMXp5NFpHem1Bdk9neEdK",
    "QnhGd1VoY2pldlIweDgifQ.eyJpc3MiOiJodHRwOi8vMTI3LjAuMC4xOjcwMDEiLCJhdWQiOiJ0ZXNzZXJhIiwic",
    "3ViIjoiMSIsImV4cCI6MTc5NjMwOTYwNCwiaWF0IjoxNzk2MzA5MzA0LCJqdGkiOiIzMDA1MDkzYmEyYjk0YWEwY",
    "jY2ODg0YjJkZGM2YjhiNiIsImNsaWVudF9pZCI6InRlc3NlcmEiLCJ0b2tlbl90eXBlIjoiYWNjZXNzIiwidXNlc",
    "l9pZCI6MSwicm9sZSI6ImN1c3RvbWVyIiwidXNlcm5hbWUiOiJhc2hhIiwic2lkIjoiMzRlZWUwZTgtNzYxYy00M",
    "TNhLThjODUtYjMwMzE1ZTFkMjIyIn0.ZqaG5Dd8oPUx2YWLFKmCxhxpdLDUlORzfaPYI3WcIFuXjgZeytJr731kw",
    "Yd7I9DclqJNF7us-ETaNSUd981ciDeHW7rqaR6yC1_T7aHEQZX9J8xXDr34ehn_8aLv7ughAt7rC1SvgfTWURX40",
    "Smrb6IQnhrHEC4nF0JxrjOW__ntw-MeSzSJ4fUWXNHlU9WsqV7fTYlFF7ms9a5n_WC8LF0gtHcoDlZ0qaYZJdqp3",
    "IPdvI-UpkxJkjSeIJ3HnmA03Kd9qT-VJ_xvb6TRT7nOIl0v49TF70FnHdFKmC75z4ZdI16wVOtIqJYYWP2czCCE6",
    "Sy-wl2oKkMCY5weA2JtXg",
);

/// and the refresh token that replaced [`REFRESH`] (which that refresh spent).
pub const REFRESHED_REFRESH: &str = concat!(
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImZES3hFVjdzQzlvaFRQMXp5NFpHem1Bdk9neEdKQnhG",
    "d1VoY2pldlIweDgifQ.eyJpc3MiOiJodHRwOi8vMTI3LjAuMC4xOjcwMDEiLCJzdWIiOiIxIiwiZXhwIjoxNzk2M",
    "zk1NzA0LCJpYXQiOjE3OTYzMDkzMDQsImp0aSI6Ijg5NGU4Zjc2Y2I5YTRiZTA4OTg2ZGMyNThjYzgxNTNiIiwiZ",
    "mFtIjoiMzRlZWUwZTgtNzYxYy00MTNhLThjODUtYjMwMzE1ZTFkMjIyIiwiYXV0aF90aW1lIjoxNzk2MzA4Mjc1L",
    "CJ0b2tlbl90eXBlIjoicmVmcmVzaCIsInVzZXJfaWQiOjEsInJvbGUiOiJjdXN0b21lciIsInVzZXJuYW1lIjoiY",
    "XNoYSJ9.06jsH4Jn642XoZ1dprWErxrdqgGd8_gHLD0NUDnZH3Q",
);

/// The session (refresh family) both tokens belong to: the access token's `sid`.
pub const SESSION: &str = "34eee0e8-761c-413a-8c85-b30315e1d222";

/// The `jti` of [`ACCESS`].
pub const ACCESS_JTI: &str = "2268bf64883540d9a06e4633898c6614";

/// When [`ACCESS`] was issued and when it expires, in seconds since the epoch.
pub const ACCESS_IAT: i64 = 1796308275;
pub const ACCESS_EXP: i64 = 1796308575;

/// An example's timestamp, `seconds` since the epoch.
pub fn time(seconds: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(seconds, 0).unwrap_or_default()
}

/// The `kid` of the key that signed [`ACCESS`].
pub const KID: &str = "fDKxEV7sC9ohTP1zy4ZGzmAvOgxGJBxFwUhcjevR0x8";

/// That key's modulus (base64url); its exponent is `AQAB`.
pub const MODULUS: &str = concat!(
    "qpcVUvfYQpF-pQLorPcG0SBYF8ms8GngYq2qQAb2psqfL1DBDxb5yAHM3_PrIi-9cYH49xBJ47ZVODWM1mCqfOGC",
    "2cVtUUeGideuyMLGkZW58CoWNxh6Zlm_s9e7uoniKPTymgelUG_vF5hct7iou3M4wUXVRcXxMP_0GDJ7qG5briTQ",
    "O_Ig8eJqNYvhk-rcQPZRXBfrPDWei-Cr1zh_IJPsFS2tT7FKriNQVpx2U6_vc0TDLq5l4KUcCb6V2ZB2XswHbor2",
    "CiEGU1-d2eT5iry7DmHAgfZgGwv3w_3L8o3wZiyHeR6mB6n26WR8p5XEU10WlK7T28hs58QFGvbPOQ",
);

#[cfg(test)]
mod tests {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};

    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

    use super::*;
    use crate::token::{AccessClaims, RefreshClaims};

    /// The examples stay one story: the access token verifies under the documented key and
    /// carries the documented session, id and times.
    #[test]
    fn the_example_access_token_verifies_under_the_example_key() {
        let key = DecodingKey::from_rsa_components(MODULUS, "AQAB").unwrap();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.set_audience(&["tessera"]);
        let token = decode::<AccessClaims>(ACCESS, &key, &validation).unwrap();
        assert_eq!(token.header.kid.as_deref(), Some(KID));
        let claims = token.claims;
        assert_eq!(claims.sid.as_deref(), Some(SESSION));
        assert_eq!(claims.jti, ACCESS_JTI);
        assert_eq!((claims.iat, claims.exp), (ACCESS_IAT, ACCESS_EXP));
        let refreshed = decode::<AccessClaims>(REFRESHED_ACCESS, &key, &validation).unwrap();
        assert_eq!(refreshed.claims.sid.as_deref(), Some(SESSION));
    }

    /// The refresh tokens belong to the example session, which the `Session` example shows
    /// expiring a day after it began.
    #[test]
    fn the_example_refresh_tokens_belong_to_the_example_session() {
        for token in [REFRESH, REFRESHED_REFRESH] {
            let payload = token.split('.').nth(1).unwrap();
            let payload = URL_SAFE_NO_PAD.decode(payload).unwrap();
            let claims: RefreshClaims = serde_json::from_slice(&payload).unwrap();
            assert_eq!(claims.fam, SESSION);
            assert_eq!(claims.auth_time, Some(ACCESS_IAT));
        }
        assert_ne!(REFRESH, REFRESHED_REFRESH);
    }
}
