//! The pending handlers, static and dynamic, in exit order: what `handlers()` lists
//! and what a passed deadline reports as skipped.

use crate::info::HandlerInfo;
use crate::registry;
use crate::statics;

/// How many handlers are pending.
pub(crate) fn count() -> usize {
    registry::pending() + statics::pending()
}

/// The pending handlers in the order they will run.
pub(crate) fn in_exit_order() -> Vec<HandlerInfo> {
    let declared = statics::owned_in_exit_order()
        .filter(|(_, handler)| handler.is_pending())
        .map(|(rank, handler)| (rank, handler.info()));
    let mut listed = registry::snapshot();
    listed.extend(declared);
    // The exit run takes the greatest rank next: the same rule.
    listed.sort_unstable_by(|(a, _), (b, _)| b.cmp(a));
    listed.into_iter().map(|(_, info)| info).collect()
}
