use std::sync::Arc;

use crate::error::{Failure, statuses::*};
use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::Example,
};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::{NotSet, Set},
    DatabaseConnection, EntityTrait, FromQueryResult, IntoActiveModel, PaginatorTrait, QueryOrder,
    QueryResult, QuerySelect,
    sea_query::Expr,
};
use serde::Deserialize;

use super::{CustomerAuth, CustomerTags, CustomersState, PageCache};
use crate::{
    domain::{CustomerName, CustomerType, FieldError, FieldErrors, Mobile},
    entity::customer,
    error::ApiError,
    http::{AnyBody, DocumentedInput, Pagination, RenderedJson, lenient_string},
};

#[derive(Default)]
pub struct CustomersApi;

/// A customer as stored.
#[derive(Debug, Object)]
#[oai(example)]
pub struct Customer {
    pub id: i64,
    pub name: String,
    pub mobile: String,
    pub customer_type: String,
    /// `sub` of the token that created it.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<customer::Model> for Customer {
    fn from(row: customer::Model) -> Self {
        Self {
            id: row.id,
            name: row.name,
            mobile: row.mobile,
            customer_type: row.customer_type,
            created_by: row.created_by,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct CustomerPage {
    pub count: u64,
    #[oai(nullable)]
    pub next: Option<String>,
    #[oai(nullable)]
    pub previous: Option<String>,
    pub results: Vec<Customer>,
}

/// All three fields are required.
#[derive(Debug, Object)]
#[oai(example)]
pub struct CreateCustomerRequest {
    /// 1-255 characters.
    #[oai(validator(min_length = 1, max_length = 255, pattern = r"\S"))]
    pub name: String,
    /// 7-15 digits, optionally after a leading `+`.
    #[oai(validator(pattern = r"^\+?[0-9]{7,15}$"))]
    pub mobile: String,
    /// 1-64 letters, digits, spaces, `-` or `_`.
    #[oai(validator(pattern = r"^[\w -]{0,63}[\w-]$"))]
    pub customer_type: String,
}

/// Any of the fields; `id` names the customer when the path does not (seed 000's form).
#[derive(Debug, Object)]
#[oai(example)]
pub struct UpdateCustomerRequest {
    pub id: Option<i64>,
    #[oai(validator(min_length = 1, max_length = 255, pattern = r"\S"))]
    pub name: Option<String>,
    #[oai(validator(pattern = r"^\+?[0-9]{7,15}$"))]
    pub mobile: Option<String>,
    #[oai(validator(pattern = r"^[\w -]{0,63}[\w-]$"))]
    pub customer_type: Option<String>,
}

#[derive(Deserialize)]
pub struct CustomerInput {
    #[serde(default, deserialize_with = "lenient_string")]
    id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    mobile: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    customer_type: Option<String>,
}

/// The same fields, documented as a create (all required) or an update (any of them).
#[derive(Deserialize)]
#[serde(transparent)]
pub struct CreateInput(CustomerInput);

#[derive(Deserialize)]
#[serde(transparent)]
pub struct UpdateInput(CustomerInput);

impl DocumentedInput for CreateInput {
    type Schema = CreateCustomerRequest;
}

impl DocumentedInput for UpdateInput {
    type Schema = UpdateCustomerRequest;
}

/// The fields of an update, each checked; `None` where not given.
struct Changes {
    name: Option<CustomerName>,
    mobile: Option<Mobile>,
    customer_type: Option<CustomerType>,
}

/// Parses one optional field, recording its error; `required` makes absence an error too.
fn field<T>(
    errors: &mut FieldErrors,
    value: &Option<String>,
    name: &'static str,
    required: bool,
    parse: fn(&str) -> Result<T, FieldError>,
) -> Option<T> {
    match value {
        Some(raw) => errors.check(parse(raw)),
        None if required => errors.check(Err(FieldError::required(name))),
        None => None,
    }
}

impl CustomerInput {
    fn changes(&self, required: bool) -> Result<Changes, FieldErrors> {
        let mut errors = FieldErrors::default();
        let changes = Changes {
            name: field(
                &mut errors,
                &self.name,
                "name",
                required,
                CustomerName::parse,
            ),
            mobile: field(&mut errors, &self.mobile, "mobile", required, Mobile::parse),
            customer_type: field(
                &mut errors,
                &self.customer_type,
                "customer_type",
                required,
                CustomerType::parse,
            ),
        };
        if errors.is_empty() {
            Ok(changes)
        } else {
            Err(errors)
        }
    }

    /// All three fields, as a create needs them.
    fn complete(&self) -> Result<(CustomerName, Mobile, CustomerType), FieldErrors> {
        match self.changes(true)? {
            Changes {
                name: Some(name),
                mobile: Some(mobile),
                customer_type: Some(customer_type),
            } => Ok((name, mobile, customer_type)),
            _ => Err(FieldErrors::from(FieldError::required("name"))),
        }
    }
}

#[derive(ApiResponse)]
pub enum ListResponse {
    /// One page of customers, oldest first.
    #[oai(status = 200)]
    Ok(RenderedJson<CustomerPage>),
}

#[derive(ApiResponse)]
pub enum CustomerResponse {
    #[oai(status = 200)]
    Ok(Json<Customer>),
}

#[derive(ApiResponse)]
pub enum CreatedResponse {
    #[oai(status = 201)]
    Created(Json<Customer>),
}

#[derive(ApiResponse)]
pub enum DeletedResponse {
    /// Deleted.
    #[oai(status = 204)]
    NoContent,
}

fn db_error(doing: &'static str) -> impl FnOnce(sea_orm::DbErr) -> ApiError {
    move |err| anyhow::anyhow!(err).context(doing).into()
}

/// A row with the size of the whole list beside it (`total`).
struct Counted<M> {
    model: M,
    total: i64,
}

impl<M: FromQueryResult> FromQueryResult for Counted<M> {
    fn from_query_result(row: &QueryResult, prefix: &str) -> Result<Self, sea_orm::DbErr> {
        Ok(Self {
            model: M::from_query_result(row, prefix)?,
            total: row.try_get(prefix, "total")?,
        })
    }
}

/// One page and the size of the whole list in one statement: the count is a subquery the
/// database runs once. Only an empty page costs a second statement, to tell an empty list's
/// page 1 from a page past the end (404).
async fn list_page(
    db: &DatabaseConnection,
    pagination: &Pagination,
) -> Result<(Vec<customer::Model>, u64), ApiError> {
    let offset = pagination.offset().ok_or(ApiError::NotFound)?;
    let rows = customer::Entity::find()
        .column_as(Expr::cust("(SELECT COUNT(*) FROM customers)"), "total")
        .order_by_asc(customer::Column::Id)
        .limit(pagination.page_size)
        .offset(offset)
        .into_model::<Counted<customer::Model>>()
        .all(db)
        .await
        .map_err(db_error("listing customers"))?;
    let count = match rows.first() {
        Some(row) => u64::try_from(row.total).unwrap_or_default(),
        None => customer::Entity::find()
            .count(db)
            .await
            .map_err(db_error("counting customers"))?,
    };
    pagination.index(count)?;
    Ok((rows.into_iter().map(|row| row.model).collect(), count))
}

struct PagesGoStale<'a>(Option<&'a PageCache>);

impl Drop for PagesGoStale<'_> {
    fn drop(&mut self) {
        if let Some(cache) = self.0 {
            cache.changed();
        }
    }
}

impl CustomersState {
    async fn find(&self, id: i64) -> Result<customer::Model, ApiError> {
        customer::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .map_err(db_error("loading a customer"))?
            .ok_or(ApiError::NotFound)
    }

    async fn update(&self, id: i64, changes: Changes) -> Result<customer::Model, ApiError> {
        let mut row = self.find(id).await?.into_active_model();
        if let Some(name) = changes.name {
            row.name = Set(name.as_ref().to_owned());
        }
        if let Some(mobile) = changes.mobile {
            row.mobile = Set(mobile.as_ref().to_owned());
        }
        if let Some(customer_type) = changes.customer_type {
            row.customer_type = Set(customer_type.as_ref().to_owned());
        }
        row.updated_at = Set(Utc::now());
        let _stale = self.pages_go_stale();
        row.update(&self.db)
            .await
            .map_err(db_error("updating a customer"))
    }

    /// Held across a write: when it is dropped, however the write ended (an error after the
    /// commit, or the request cancelled while SQLite still commits), every kept page goes.
    fn pages_go_stale(&self) -> PagesGoStale<'_> {
        PagesGoStale(self.list_cache.as_ref())
    }
}

#[OpenApi(tag = "CustomerTags::Customers")]
impl CustomersApi {
    /// List customers
    ///
    /// `page` starts at 1; `page_size` defaults to 20, at most 100. Service tokens need
    /// `customers:read`.
    #[oai(path = "/customers/", method = "get", operation_id = "list_customers")]
    async fn list(
        &self,
        state: Data<&Arc<CustomersState>>,
        auth: CustomerAuth,
        page: Query<Option<u64>>,
        page_size: Query<Option<u64>>,
    ) -> Result<
        ListResponse,
        Failure<{ BAD_REQUEST | UNAUTHORIZED | FORBIDDEN | NOT_FOUND | UNAVAILABLE }>,
    > {
        auth.require_read()?;
        let pagination = Pagination::new(page.0, page_size.0)?;
        let cache = state.list_cache.as_ref();
        if let Some(body) = cache.and_then(|cache| cache.get(&pagination)) {
            return Ok(ListResponse::Ok(RenderedJson::from_bytes(body)));
        }
        let generation = cache.map(PageCache::generation);
        let (rows, count) = list_page(&state.db, &pagination).await?;
        let (next, previous) = pagination.links(count, &format!("{}/customers/", state.public_url));
        let page = RenderedJson::render(&CustomerPage {
            count,
            next,
            previous,
            results: rows.into_iter().map(Customer::from).collect(),
        });
        if let (Some(cache), Some(generation)) = (cache, generation) {
            cache.keep(&pagination, generation, page.bytes().clone());
        }
        Ok(ListResponse::Ok(page))
    }

    /// Get a customer
    ///
    /// Service tokens need `customers:read`.
    #[oai(
        path = "/customers/:id/",
        method = "get",
        operation_id = "get_customer"
    )]
    async fn get(
        &self,
        state: Data<&Arc<CustomersState>>,
        auth: CustomerAuth,
        id: Path<i64>,
    ) -> Result<
        CustomerResponse,
        Failure<{ BAD_REQUEST | UNAUTHORIZED | FORBIDDEN | NOT_FOUND | UNAVAILABLE }>,
    > {
        auth.require_read()?;
        Ok(CustomerResponse::Ok(Json(state.find(id.0).await?.into())))
    }

    /// Create a customer
    ///
    /// Registered tokens, and service tokens with `customers:write`; anonymous tokens get 403.
    #[oai(
        path = "/customers/",
        method = "post",
        operation_id = "create_customer"
    )]
    async fn create(
        &self,
        state: Data<&Arc<CustomersState>>,
        auth: CustomerAuth,
        body: AnyBody<CreateInput>,
    ) -> Result<CreatedResponse, Failure<{ BODY | UNAUTHORIZED | FORBIDDEN }>> {
        auth.require_write()?;
        let (name, mobile, customer_type) = body.0.0.complete()?;
        let now = Utc::now();
        let row = customer::ActiveModel {
            id: NotSet,
            name: Set(name.as_ref().to_owned()),
            mobile: Set(mobile.as_ref().to_owned()),
            customer_type: Set(customer_type.as_ref().to_owned()),
            created_by: Set(auth.0.sub.chars().take(64).collect()),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let _stale = state.pages_go_stale();
        let created = customer::Entity::insert(row)
            .exec_with_returning(&state.db)
            .await
            .map_err(db_error("creating a customer"))?;
        Ok(CreatedResponse::Created(Json(created.into())))
    }

    /// Update a customer
    ///
    /// Any of name, mobile and customer_type. Registered tokens, and service tokens with
    /// `customers:write`.
    #[oai(
        path = "/customers/:id/",
        method = "patch",
        operation_id = "update_customer"
    )]
    async fn update(
        &self,
        state: Data<&Arc<CustomersState>>,
        auth: CustomerAuth,
        id: Path<i64>,
        body: AnyBody<UpdateInput>,
    ) -> Result<CustomerResponse, Failure<{ BODY | UNAUTHORIZED | FORBIDDEN | NOT_FOUND }>> {
        auth.require_write()?;
        let changes = body.0.0.changes(false)?;
        Ok(CustomerResponse::Ok(Json(
            state.update(id.0, changes).await?.into(),
        )))
    }

    /// Update the customer named in the body
    ///
    /// Seed 000's form: `PATCH /customers/` with `id` among the fields.
    #[oai(
        path = "/customers/",
        method = "patch",
        operation_id = "update_customer_by_body_id"
    )]
    async fn update_by_body_id(
        &self,
        state: Data<&Arc<CustomersState>>,
        auth: CustomerAuth,
        body: AnyBody<UpdateInput>,
    ) -> Result<CustomerResponse, Failure<{ BODY | UNAUTHORIZED | FORBIDDEN | NOT_FOUND }>> {
        auth.require_write()?;
        let input = body.0.0;
        let id = match input.id.as_deref().map(str::trim) {
            None | Some("") => {
                return Err(id_required().into());
            }
            Some(raw) => raw.parse::<i64>().map_err(|_| {
                ApiError::from(FieldError::new("id", "A valid integer is required."))
            })?,
        };
        let changes = input.changes(false)?;
        Ok(CustomerResponse::Ok(Json(
            state.update(id, changes).await?.into(),
        )))
    }

    /// Delete a customer
    ///
    /// Registered tokens, and service tokens with `customers:write`.
    #[oai(
        path = "/customers/:id/",
        method = "delete",
        operation_id = "delete_customer"
    )]
    async fn delete(
        &self,
        state: Data<&Arc<CustomersState>>,
        auth: CustomerAuth,
        id: Path<i64>,
    ) -> Result<
        DeletedResponse,
        Failure<{ BAD_REQUEST | UNAUTHORIZED | FORBIDDEN | NOT_FOUND | UNAVAILABLE }>,
    > {
        auth.require_write()?;
        let _stale = state.pages_go_stale();
        let deleted = customer::Entity::delete_by_id(id.0)
            .exec(&state.db)
            .await
            .map_err(db_error("deleting a customer"))?;
        if deleted.rows_affected == 0 {
            return Err(ApiError::NotFound.into());
        }
        Ok(DeletedResponse::NoContent)
    }
}

/// `PATCH /customers/` names the customer in its body: DRF's message when it does not.
pub fn id_required() -> FieldError {
    FieldError::new("id", "\"id\" must be sent to update data.")
}

impl Example for Customer {
    fn example() -> Self {
        use crate::token::examples;
        let CreateCustomerRequest {
            name,
            mobile,
            customer_type,
        } = CreateCustomerRequest::example();
        Self {
            id: 1,
            name,
            mobile,
            customer_type,
            created_by: "1".into(),
            created_at: examples::time(examples::ACCESS_IAT + 60),
            updated_at: examples::time(examples::ACCESS_IAT + 60),
        }
    }
}

impl Example for CustomerPage {
    fn example() -> Self {
        Self {
            count: 1,
            next: None,
            previous: None,
            results: vec![Customer::example()],
        }
    }
}

impl Example for CreateCustomerRequest {
    fn example() -> Self {
        Self {
            name: "Meera Traders".into(),
            mobile: "+919812345678".into(),
            customer_type: "retail".into(),
        }
    }
}

/// A partial update: only the fields sent change.
impl Example for UpdateCustomerRequest {
    fn example() -> Self {
        Self {
            id: Some(1),
            name: None,
            mobile: Some("+919898989898".into()),
            customer_type: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use super::*;

    /// The guard on the list's cost: one statement per page, whatever the page.
    #[tokio::test]
    async fn a_page_of_customers_costs_one_statement() {
        let mut db = crate::db::connect("sqlite::memory:").await.unwrap();
        crate::db::migrate_customers(&db).await.unwrap();
        let first = Pagination::new(None, Some(2)).unwrap();
        let (rows, count) = list_page(&db, &first).await.unwrap();
        assert_eq!(
            (rows.len(), count),
            (0, 0),
            "an empty list still has its page 1"
        );
        let second = Pagination::new(Some(2), Some(2)).unwrap();
        assert!(matches!(
            list_page(&db, &second).await,
            Err(ApiError::NotFound)
        ));
        for n in 0..5 {
            customer::ActiveModel {
                id: NotSet,
                name: Set(format!("Customer {n}")),
                mobile: Set("+919876543210".into()),
                customer_type: Set("retail".into()),
                created_by: Set("1".into()),
                created_at: Set(Utc::now()),
                updated_at: Set(Utc::now()),
            }
            .insert(&db)
            .await
            .unwrap();
        }
        let statements = Arc::new(AtomicUsize::new(0));
        db.set_metric_callback({
            let statements = statements.clone();
            move |_| {
                statements.fetch_add(1, Ordering::Relaxed);
            }
        });
        for (page_number, expected) in [(1, 2), (2, 2), (3, 1)] {
            let pagination = Pagination::new(Some(page_number), Some(2)).unwrap();
            let before = statements.load(Ordering::Relaxed);
            let (rows, count) = list_page(&db, &pagination).await.unwrap();
            assert_eq!((rows.len(), count), (expected, 5));
            assert_eq!(statements.load(Ordering::Relaxed) - before, 1);
        }
        let past_the_end = Pagination::new(Some(4), Some(2)).unwrap();
        assert!(matches!(
            list_page(&db, &past_the_end).await,
            Err(ApiError::NotFound)
        ));
        let unreachable = Pagination::new(Some(u64::MAX), Some(100)).unwrap();
        assert!(matches!(
            list_page(&db, &unreachable).await,
            Err(ApiError::NotFound)
        ));
    }

    #[test]
    fn request_examples_pass_their_schemas() {
        crate::http::example_is_valid::<CreateCustomerRequest>();
        crate::http::example_is_valid::<UpdateCustomerRequest>();
    }
}
