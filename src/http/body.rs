use std::{
    any::TypeId,
    collections::HashMap,
    sync::{Arc, LazyLock, RwLock},
};

use poem::{Request, RequestBody, web::Multipart};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    error::ContentTypeError,
    registry::{MetaMediaType, MetaRequest, MetaSchemaRef, Registry},
    types::Type,
};
use serde::{Deserialize, Deserializer, de::DeserializeOwned};
use serde_json::{Map, Value};

use crate::{
    domain::{FieldError, FieldErrors},
    error::ApiError,
};

/// A request input that is parsed leniently (every field optional, so that a missing field is a
/// field error and not a parse failure) but documented by a strict schema for client generators.
/// The schema's field types are checked first, each bad field named in one 400.
pub trait DocumentedInput: DeserializeOwned + Send + 'static {
    type Schema: Type;
}

/// What a body field must hold, read from the input's documented schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldKind {
    Text,
    Boolean,
    Integer,
}

type FieldKinds = Arc<[(&'static str, FieldKind)]>;

/// The field kinds of `T`'s schema, worked out once per input type.
fn field_kinds<T: DocumentedInput>() -> FieldKinds {
    static KINDS: LazyLock<RwLock<HashMap<TypeId, FieldKinds>>> = LazyLock::new(Default::default);
    let id = TypeId::of::<T>();
    if let Some(kinds) = KINDS.read().unwrap_or_else(|p| p.into_inner()).get(&id) {
        return kinds.clone();
    }
    let mut registry = Registry::new();
    T::Schema::register(&mut registry);
    let schema = match T::Schema::schema_ref() {
        MetaSchemaRef::Reference(name) => registry.schemas.get(&name).cloned(),
        MetaSchemaRef::Inline(schema) => Some(*schema),
    };
    let kinds: FieldKinds = schema
        .map(|schema| {
            schema
                .properties
                .iter()
                .filter_map(|(name, property)| {
                    let MetaSchemaRef::Inline(property) = property else {
                        return None;
                    };
                    let kind = match property.ty {
                        "string" => FieldKind::Text,
                        "boolean" => FieldKind::Boolean,
                        "integer" => FieldKind::Integer,
                        _ => return None,
                    };
                    Some((*name, kind))
                })
                .collect()
        })
        .unwrap_or_default();
    KINDS
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id, kinds.clone());
    kinds
}

/// DRF's field checks on a decoded body: a text field takes text or a number (kept as its
/// text), never a list, an object or a boolean, and never a NUL character (Django's
/// `ProhibitNullCharactersValidator`: PostgreSQL cannot store one); a boolean takes what
/// [`lenient_bool`] reads; an integer takes a whole number or text. Every bad field is named.
fn check_field_kinds(
    fields: &mut Map<String, Value>,
    kinds: &[(&'static str, FieldKind)],
) -> Result<(), FieldErrors> {
    let mut errors = FieldErrors::default();
    for (name, kind) in kinds {
        let Some(value) = fields.get_mut(*name) else {
            continue;
        };
        let problem = match (kind, &*value) {
            (_, Value::Null) => None,
            (FieldKind::Text | FieldKind::Integer, Value::String(text)) if text.contains('\0') => {
                Some("Null characters are not allowed.")
            }
            (FieldKind::Text, Value::String(_)) => None,
            (FieldKind::Text, Value::Number(number)) => {
                *value = Value::String(number.to_string());
                None
            }
            (FieldKind::Text, _) => Some("Not a valid string."),
            (FieldKind::Boolean, value) if parse_bool(value).is_some() => None,
            (FieldKind::Boolean, _) => Some("Must be a valid boolean."),
            (FieldKind::Integer, Value::String(_)) => None,
            (FieldKind::Integer, Value::Number(number)) if number.is_i64() => None,
            (FieldKind::Integer, _) => Some("A valid integer is required."),
        };
        if let Some(message) = problem {
            errors.push(FieldError::new(name, message));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
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
        let essence = media_type(request).ok_or(ContentTypeError::ExpectContentType)?;
        let fields = match essence.as_str() {
            "application/json" => {
                let bytes = body.take()?.into_bytes().await?;
                if bytes.is_empty() {
                    Value::Object(Map::new())
                } else {
                    serde_json::from_slice(&bytes)
                        .map_err(|err| ApiError::Malformed(format!("JSON parse error - {err}")))?
                }
            }
            "application/x-www-form-urlencoded" => {
                let bytes = body.take()?.into_bytes().await?;
                let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
                    .map_err(|err| ApiError::Malformed(format!("form parse error: {err}")))?;
                text_fields(pairs)
            }
            "multipart/form-data" => {
                let bytes = body.take()?.into_bytes().await?;
                // A form with no fields is empty or just its closing delimiter, which the parser
                // takes for a stream cut short.
                let trimmed = bytes.trim_ascii();
                let closing_only = trimmed.is_empty()
                    || (trimmed.starts_with(b"--")
                        && trimmed.ends_with(b"--")
                        && !trimmed.contains(&b'\n'));
                let mut pairs = Vec::new();
                if !closing_only {
                    let mut body = RequestBody::new(bytes.into());
                    let mut multipart =
                        <Multipart as poem::FromRequest>::from_request(request, &mut body).await?;
                    while let Some(field) = multipart.next_field().await? {
                        let name = field.name().unwrap_or_default().to_owned();
                        pairs.push((name, field.text().await?));
                    }
                }
                text_fields(pairs)
            }
            _ => {
                return Err(ContentTypeError::NotSupported {
                    content_type: request.content_type().unwrap_or_default().to_owned(),
                }
                .into());
            }
        };
        let Value::Object(mut fields) = fields else {
            return Err(ApiError::Malformed("The request body must be an object.".into()).into());
        };
        check_field_kinds(&mut fields, &field_kinds::<T>()).map_err(ApiError::Invalid)?;
        serde_json::from_value(Value::Object(fields))
            .map(AnyBody)
            .map_err(|err| ApiError::Malformed(format!("invalid body: {err}")).into())
    }
}

/// The request's media type without its parameters, lowercased (`application/json`), if it
/// names one.
pub fn media_type(request: &Request) -> Option<String> {
    request.content_type().map(|content_type| {
        content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    })
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

/// DRF's `CharField`: text, or a number taken as its text (`"gst_no": 12345`). The body
/// decoder has already refused other kinds field by field; this is the last line. The error
/// never quotes the value, which may be a password.
pub fn lenient_string<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(serde::de::Error::custom(
            "a text field was given another kind",
        )),
    }
}

/// DRF's `BooleanField`: `true`/`false`, and from forms `1`/`0`, `yes`/`no`, `on`/`off`.
pub fn lenient_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(value) => parse_bool(&value)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom("must be a valid boolean")),
    }
}

fn parse_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "y" | "on" | "t" => Some(true),
            "false" | "0" | "no" | "n" | "off" | "f" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}
