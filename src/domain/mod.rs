//! Values that are valid by construction: holding one means it passed its rules.

mod client;
mod customer;
mod email;
mod field_error;
mod gst_no;
pub mod password;
mod role;
mod scope;
mod username;

pub use client::{ClientId, ClientName};
pub use customer::{CustomerName, CustomerType, Mobile};
pub use email::Email;
pub use field_error::{FieldError, FieldErrors};
pub use gst_no::GstNo;
pub use password::Password;
pub use role::Role;
pub use scope::Scopes;
pub use username::Username;
