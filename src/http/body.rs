use poem::{Request, RequestBody, web::Multipart};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    error::ContentTypeError,
    registry::{MetaMediaType, MetaRequest, Registry},
    types::Type,
};
use serde::{Deserialize, Deserializer, de::DeserializeOwned};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// A request input that is parsed leniently (every field optional, so that a missing field is a
/// field error and not a parse failure) but documented by a strict schema for client generators.
pub trait DocumentedInput: DeserializeOwned + Send {
    type Schema: Type;
}

/// A POST body accepted as JSON, `application/x-www-form-urlencoded` or `multipart/form-data`:
/// the seeds' clients send all three (Postman's "form data" is multipart).
pub struct AnyBody<T>(pub T);

impl<'a, T: DocumentedInput> ApiExtractor<'a> for AnyBody<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::Schema::register(registry);
    }

    /// Only JSON is documented: generators turn one schema under three content types into
    /// clients that send all three at once (openapi-python-client #1276, #1451).
    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: Some(
                "Also accepted as `application/x-www-form-urlencoded` and `multipart/form-data`, \
                 with the same fields.",
            ),
            content: vec![MetaMediaType {
                content_type: "application/json",
                schema: T::Schema::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let content_type = request
            .content_type()
            .ok_or(ContentTypeError::ExpectContentType)?;
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let fields = match essence.as_str() {
            "application/json" => {
                let bytes = body.take()?.into_bytes().await?;
                if bytes.is_empty() {
                    Value::Object(Map::new())
                } else {
                    serde_json::from_slice(&bytes)
                        .map_err(|err| ApiError::Malformed(format!("JSON parse error: {err}")))?
                }
            }
            "application/x-www-form-urlencoded" => {
                let bytes = body.take()?.into_bytes().await?;
                let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
                    .map_err(|err| ApiError::Malformed(format!("form parse error: {err}")))?;
                text_fields(pairs)
            }
            "multipart/form-data" => {
                let mut multipart =
                    <Multipart as poem::FromRequest>::from_request(request, body).await?;
                let mut pairs = Vec::new();
                while let Some(field) = multipart.next_field().await? {
                    let name = field.name().unwrap_or_default().to_owned();
                    pairs.push((name, field.text().await?));
                }
                text_fields(pairs)
            }
            _ => {
                return Err(ContentTypeError::NotSupported {
                    content_type: content_type.to_owned(),
                }
                .into());
            }
        };
        if !fields.is_object() {
            return Err(ApiError::Malformed("The request body must be an object.".into()).into());
        }
        serde_json::from_value(fields)
            .map(AnyBody)
            .map_err(|err| ApiError::Malformed(format!("invalid body: {err}")).into())
    }
}

/// Form fields are all text; the last value of a repeated name wins, as in Django's QueryDict.
fn text_fields(pairs: Vec<(String, String)>) -> Value {
    Value::Object(
        pairs
            .into_iter()
            .map(|(name, value)| (name, Value::String(value)))
            .collect(),
    )
}

/// DRF's `CharField`: text, or a number or boolean taken as its text (`"gst_no": 12345`).
/// The error never quotes the value, which may be a password.
pub fn lenient_string<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(if b { "True" } else { "False" }.to_owned())),
        Some(_) => Err(serde::de::Error::custom(
            "a text field was given a list or an object",
        )),
    }
}

/// DRF's `BooleanField`: `true`/`false`, and from forms `1`/`0`, `yes`/`no`, `on`/`off`.
pub fn lenient_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    let value = Option::<Value>::deserialize(deserializer)?;
    let parsed = match &value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "y" | "on" | "t" => Some(true),
            "false" | "0" | "no" | "n" | "off" | "f" | "" => Some(false),
            _ => None,
        },
        _ => None,
    };
    parsed
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom("must be a valid boolean"))
}
