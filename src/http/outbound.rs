//! Answers from services we call (the issuer's JWKS, a captcha provider): read only up to a
//! bound, so a peer that misbehaves cannot make us buffer without limit.

use serde::de::DeserializeOwned;

/// The body of `response` as JSON, refused once it passes `max_bytes` (even mid-stream, when
/// the peer declared no length or a false one).
pub async fn read_json_capped<T: DeserializeOwned>(
    mut response: reqwest::Response,
    max_bytes: usize,
) -> anyhow::Result<T> {
    if response
        .content_length()
        .is_some_and(|length| length > max_bytes as u64)
    {
        anyhow::bail!("the answer declares more than {max_bytes} bytes");
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > max_bytes {
            anyhow::bail!("the answer is longer than {max_bytes} bytes");
        }
        body.extend_from_slice(&chunk);
    }
    Ok(serde_json::from_slice(&body)?)
}
