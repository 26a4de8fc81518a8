//! Label and field selectors of list and watch requests (apimachinery `labels`, `fields`).

pub mod field;
pub mod label;

use serde_json::Value;

use crate::error::ApiError;
use crate::kinds::ResourceType;

/// Both selectors of a request.
#[derive(Debug, Clone, Default)]
pub struct Selectors {
    pub labels: label::Selector,
    pub fields: field::Selector,
}

impl Selectors {
    /// Parses `labelSelector` and `fieldSelector` for `rt` (unknown fields are a 400).
    pub fn parse(
        rt: &ResourceType,
        label: Option<&str>,
        field: Option<&str>,
    ) -> Result<Self, ApiError> {
        let labels = label::Selector::parse(label.unwrap_or("")).map_err(ApiError::bad_request)?;
        let fields = field::Selector::parse(field.unwrap_or("")).map_err(ApiError::bad_request)?;
        fields.check_supported(rt)?;
        Ok(Self { labels, fields })
    }

    /// Whether an object matches both.
    pub fn matches(&self, obj: &Value) -> bool {
        self.labels.matches(obj.pointer("/metadata/labels")) && self.fields.matches(obj)
    }
}
