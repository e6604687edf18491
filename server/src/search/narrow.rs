//! Which rows a search may return: the query's filters (`in=`, `from=`, `to=`, `orient=`)
//! checked, the folder mapped to the indexed folders, and the whole made into one Milvus
//! expression (`store::filter`) that the vector search applies.

use app::search::{Filters, SearchError};

use super::SearchEngine;
use crate::store::{FilterExpr, RowFilter};

/// Which rows a search may return.
pub enum Narrowed {
    /// Every row (no filter).
    All,
    /// The rows that match this expression.
    Where(FilterExpr),
    /// None: the folder is not under any indexed folder.
    Nothing,
}

impl SearchEngine {
    /// The rows `filters` allow: their values checked (a bad one is `BadRequest`, in both
    /// languages), the folder mapped to absolute prefixes under the indexed folders, and the
    /// whole made into one expression by `store::filter`.
    pub fn narrow(&self, filters: &Filters) -> Result<Narrowed, SearchError> {
        let checked = filters
            .check()
            .map_err(|e| SearchError::BadRequest(e.to_string()))?;
        if checked.is_empty() {
            return Ok(Narrowed::All);
        }
        let prefixes = checked
            .folder
            .as_ref()
            .map(|f| crate::folders::prefixes(f, &self.paths))
            .transpose()?;
        if prefixes.as_ref().is_some_and(Vec::is_empty) {
            return Ok(Narrowed::Nothing);
        }
        let filter = RowFilter {
            prefixes,
            taken_from: checked.taken_from,
            taken_before: checked.taken_before,
            orient: checked.orient,
        };
        match filter.expr(&self.store.config().path_field) {
            Ok(Some(expr)) => Ok(Narrowed::Where(expr)),
            Ok(None) => Ok(Narrowed::All),
            Err(e) => Err(SearchError::BadRequest(format!(
                "无法按这个文件夹筛选 · {e}"
            ))),
        }
    }
}
