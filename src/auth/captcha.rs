use std::time::Duration;

use serde::Deserialize;

use crate::http::read_json_capped;

/// siteverify answers are a few hundred bytes.
const MAX_ANSWER_BYTES: usize = 16 * 1024;

/// Server-side captcha check, in the form reCAPTCHA, hCaptcha and Turnstile share: POST
/// `secret` and `response` to the provider's siteverify URL and read `success`.
/// The secret is ours from configuration; one sent by a client is ignored.
pub struct CaptchaVerifier {
    client: reqwest::Client,
    verify_url: String,
    secret: String,
}

#[derive(Deserialize)]
struct SiteVerify {
    success: bool,
}

impl CaptchaVerifier {
    pub fn new(verify_url: String, secret: String) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self {
            client,
            verify_url,
            secret,
        })
    }

    /// `Ok(false)` when the provider says no; `Err` when it cannot be asked.
    pub async fn verify(&self, response: &str, remote_ip: Option<&str>) -> anyhow::Result<bool> {
        let mut form = vec![("secret", self.secret.as_str()), ("response", response)];
        if let Some(ip) = remote_ip {
            form.push(("remoteip", ip));
        }
        let response = self
            .client
            .post(&self.verify_url)
            .form(&form)
            .send()
            .await?
            .error_for_status()?;
        let answer: SiteVerify = read_json_capped(response, MAX_ANSWER_BYTES).await?;
        Ok(answer.success)
    }
}
