//! When each user was last seen: recorded on every request of a logged-in
//! user (the database is written at most once a minute per user, see
//! `ProfileStore::touch`), shown on the profile as "3 minutes ago".

use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use jiff::fmt::friendly::{Designator, Direction, Spacing, SpanPrinter};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp, Unit};
use twofa_verify::axum::AuthSession;

use super::AppState;

/// Middleware: records the request of a logged-in user. A failure to write
/// is logged and the request goes on: it is only a date on a page.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    // The session is cached in the request: the handler's own extraction
    // costs nothing more. An error here meets the handler again, which
    // answers it.
    let user = AuthSession::from_request_parts(&mut parts, &state)
        .await
        .ok()
        .and_then(|s| s.user().map(|u| u.id));
    if let Some(id) = user {
        let now = state.auth.now().as_millis();
        if let Err(e) = state.profiles.touch(id, now).await {
            tracing::warn!(error = %e, user = %id, "could not record when the user was last seen");
        }
    }
    next.run(Request::from_parts(parts, body)).await
}

const PRINTER: SpanPrinter = SpanPrinter::new()
    .designator(Designator::Verbose)
    .spacing(Spacing::BetweenUnitsAndDesignators)
    .direction(Direction::Suffix);

/// "just now", "3 minutes ago", "1 hour ago", "2 years ago": the largest
/// whole calendar unit between `then` and `now` (ms, UTC), truncated.
/// `None` for a time outside what a date can hold.
pub fn time_ago(then: i64, now: i64) -> Option<String> {
    // Also a moment in the future (a clock moved back): nothing to say.
    if now.saturating_sub(then) < 60_000 {
        return Some("just now".into());
    }
    let utc = |ms| {
        Timestamp::from_millisecond(ms)
            .ok()
            .map(|t| t.to_zoned_datetime(TimeZone::UTC))
    };
    let (then, now) = (utc(then)?, utc(now)?);
    let span = then.until((Unit::Year, &now)).ok()?;
    let largest = if span.get_years() != 0 {
        Span::new().try_years(span.get_years())
    } else if span.get_months() != 0 {
        Span::new().try_months(span.get_months())
    } else if span.get_days() != 0 {
        Span::new().try_days(span.get_days())
    } else if span.get_hours() != 0 {
        Span::new().try_hours(span.get_hours())
    } else {
        Span::new().try_minutes(span.get_minutes())
    };
    Some(PRINTER.span_to_string(&largest.ok()?.negate()))
}

#[cfg(test)]
mod tests {
    use super::time_ago;

    #[test]
    fn humanised() {
        const MIN: i64 = 60_000;
        let now = 1_764_150_000_000; // 2025-11-26 09:40 UTC
        let ago = |ms: i64| time_ago(now - ms, now).unwrap();
        assert_eq!(ago(0), "just now");
        assert_eq!(ago(59_999), "just now");
        assert_eq!(ago(-5 * MIN), "just now");
        assert_eq!(ago(MIN), "1 minute ago");
        assert_eq!(ago(3 * MIN + 59_000), "3 minutes ago");
        assert_eq!(ago(60 * MIN), "1 hour ago");
        assert_eq!(ago(47 * 60 * MIN), "1 day ago");
        assert_eq!(ago(40 * 24 * 60 * MIN), "1 month ago");
        assert_eq!(ago(800 * 24 * 60 * MIN), "2 years ago");
        assert_eq!(time_ago(i64::MIN, now), None);
    }
}
