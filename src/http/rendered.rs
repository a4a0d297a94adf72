//! A JSON response body rendered before the request came: documented as the type it was
//! rendered from, sent as the bytes it was rendered to.

use std::marker::PhantomData;

use bytes::Bytes;
use poem::{IntoResponse, Response};
use poem_openapi::{
    ApiResponse,
    payload::Payload,
    registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry},
    types::{ToJSON, Type},
};

/// `Json`'s content type, with which poem-openapi documents a JSON body.
const CONTENT_TYPE: &str = "application/json; charset=utf-8";

pub struct RenderedJson<T> {
    body: Bytes,
    schema: PhantomData<fn() -> T>,
}

impl<T: ToJSON> RenderedJson<T> {
    /// `value` as poem-openapi's `Json` would send it.
    pub fn render(value: &T) -> Self {
        let json = value.to_json().unwrap_or_default();
        Self::from_bytes(
            serde_json::to_vec(&json)
                .expect("a JSON value serializes")
                .into(),
        )
    }
}

impl<T> RenderedJson<T> {
    pub fn from_bytes(body: Bytes) -> Self {
        Self {
            body,
            schema: PhantomData,
        }
    }

    pub fn bytes(&self) -> &Bytes {
        &self.body
    }
}

impl<T: Type> Payload for RenderedJson<T> {
    const CONTENT_TYPE: &'static str = CONTENT_TYPE;

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Send> IntoResponse for RenderedJson<T> {
    fn into_response(self) -> Response {
        Response::builder()
            .content_type(CONTENT_TYPE)
            .body(self.body)
    }
}

impl<T: Type + Send> ApiResponse for RenderedJson<T> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: <Self as Payload>::CONTENT_TYPE,
                    schema: Self::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}
