//! The keys of the state store: every kind of entry the flows keep, and
//! how its store key is rendered. The rendered keys are the format of data
//! already stored: the tests below pin each one. Secrets (tokens, phone
//! numbers, email addresses, client addresses) only appear in keys as their
//! keyed hash ([`Keys::state_key`]).

use crate::crypto::Keys;
use crate::user::UserId;

/// One entry of the state store, by kind.
#[derive(Debug, Clone, Copy)]
pub(in crate::authenticator) enum StateKey<'a> {
    /// A pending login ([`ChallengeRecord`](super::ChallengeRecord)), by its token.
    Challenge(&'a str),
    /// The count of answers to a pending login, by its token.
    ChallengeAttempts(&'a str),
    /// A registration waiting for its email to be confirmed, by its token.
    Registration(&'a str),
    /// A registration link used, by its token.
    RegistrationUsed(&'a str),
    /// The SMS enrollment in progress of an account ([`PendingSms`](super::PendingSms)).
    SmsEnrollment(UserId),
    /// The count of codes tried on that SMS enrollment.
    SmsEnrollmentAttempts(UserId),
    /// The authenticator-app enrollment in progress of an account (its
    /// sealed secret).
    #[cfg_attr(not(feature = "totp"), allow(dead_code))]
    TotpEnrollment(UserId),
    /// The count of codes tried on that enrollment.
    #[cfg_attr(not(feature = "totp"), allow(dead_code))]
    TotpEnrollmentAttempts(UserId),
    /// The last SMS step-up code sent to an account ([`SentCode`](super::SentCode)).
    StepUpSms(UserId),
    /// The last TOTP time step an account used (each is accepted once).
    TotpStep(UserId),
    /// The live password reset link of an account ([`LiveLink`](super::LiveLink)): only
    /// the newest one issued.
    ResetLink(UserId),
    /// The live email-change link of an account ([`LiveLink`](super::LiveLink)).
    EmailChange(UserId),
    /// The consecutive-attempt counter of a lockout.
    Failures(&'a FailScope),
    /// The gate of a lockout: the delay or lock in force.
    Gate(&'a FailScope),
    /// The count of gates set in a lockout since its last success.
    Gates(&'a FailScope),
    /// A rate-limit counter.
    Budget(&'a BudgetKey),
    /// The mark that the summary mail of an address's current mail window
    /// was handed out, by the normalised address.
    MailSummary(&'a str),
    /// The marker that a site-wide SMS budget was found spent in its
    /// current window (the operator is told once).
    SmsSiteSpent(PhoneStatus),
    /// A passkey ceremony in progress, by its id.
    #[cfg_attr(not(feature = "passkeys"), allow(dead_code))]
    PasskeyCeremony(&'a str),
    /// The lease of a change that removes one of an account's second
    /// factors ([`Authenticator::removing_factor`](super::super::Authenticator)):
    /// held from the "is another factor left" check to the write.
    FactorRemoval(UserId),
    /// An operator's lock of an account ([`Gate`](super::Gate)), apart from
    /// the lockout's gates: a login's success clears those, never this.
    AdminLock(UserId),
}

impl StateKey<'_> {
    /// The store key.
    pub(in crate::authenticator) fn render(&self, keys: &Keys) -> String {
        match self {
            StateKey::Challenge(token) => keys.state_key("ch", token.as_bytes()),
            StateKey::ChallengeAttempts(token) => {
                format!("{}:n", keys.state_key("ch", token.as_bytes()))
            }
            StateKey::Registration(token) => keys.state_key("reg", token.as_bytes()),
            StateKey::RegistrationUsed(token) => keys.state_key("reg-used", token.as_bytes()),
            StateKey::SmsEnrollment(id) => format!("enroll-sms:{id}"),
            StateKey::SmsEnrollmentAttempts(id) => format!("enroll-sms:{id}:n"),
            StateKey::TotpEnrollment(id) => format!("enroll-totp:{id}"),
            StateKey::TotpEnrollmentAttempts(id) => format!("enroll-totp:{id}:n"),
            StateKey::StepUpSms(id) => format!("stepup-sms:{id}"),
            StateKey::TotpStep(id) => format!("totp-step:{id}"),
            StateKey::ResetLink(id) => format!("reset-link:{id}"),
            StateKey::EmailChange(id) => format!("email-change:{id}"),
            StateKey::Failures(scope) => format!("fail:{}", scope.render(keys)),
            StateKey::Gate(scope) => format!("lock:{}", scope.render(keys)),
            StateKey::Gates(scope) => format!("gates:{}", scope.render(keys)),
            StateKey::Budget(budget) => format!("rl:{}", budget.render(keys)),
            StateKey::MailSummary(email) => keys.state_key("mail-sum", email.as_bytes()),
            StateKey::SmsSiteSpent(PhoneStatus::Verified) => "sms-g-spent".to_owned(),
            StateKey::SmsSiteSpent(PhoneStatus::Unverified) => "sms-ug-spent".to_owned(),
            StateKey::PasskeyCeremony(id) => keys.state_key("pk", id.as_bytes()),
            StateKey::FactorRemoval(id) => format!("factor-removal:{id}"),
            StateKey::AdminLock(id) => format!("admin-lock:{id}"),
        }
    }
}

/// Whose consecutive failures a lockout counts.
///
/// An account has one lockout per way of naming it at login: its username
/// (which also counts second-factor and step-up failures) and its email
/// address. Were they one, failing by email would lock the username, and
/// anyone could learn which email and username belong together from the
/// lock alone. So each is counted apart, and
/// [`Policy::lock_after_failures`](crate::Policy::lock_after_failures) is
/// capped at 50: both locked, an account has seen at most 100 consecutive
/// failures (NIST SP 800-63B).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::authenticator) enum FailScope {
    /// An account's, named by its username (and its second factors').
    Account(UserId),
    /// An account's, named by its email address at login.
    Email(UserId),
    /// An identifier's that names no account (so an unknown name is
    /// delayed exactly like a known one).
    Unknown(String),
    /// One remembered device's of an account ("smart lockout").
    Device(UserId, String),
}

impl FailScope {
    fn render(&self, keys: &Keys) -> String {
        match self {
            FailScope::Account(id) => format!("u:{id}"),
            FailScope::Email(id) => format!("u:{id}:e"),
            FailScope::Unknown(identifier) => keys.state_key("i", identifier.as_bytes()),
            FailScope::Device(id, device) => format!("u:{id}:d:{device}"),
        }
    }
}

/// A rate limit's counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::authenticator) enum BudgetKey {
    /// One client's (by [`RequestContext`](crate::RequestContext) address).
    Client(ClientBudget, Vec<u8>),
    /// Reset links asked for one email address.
    ResetEmail(String),
    /// Mails to one (normalised) email address.
    MailAddress(String),
    /// Texts to one phone number.
    SmsPhone(PhoneStatus, String),
    /// Texts to one account's phone.
    SmsAccount(UserId),
    /// Texts site-wide.
    SmsSite(PhoneStatus),
}

/// What a client's budget limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::authenticator) enum ClientBudget {
    /// Failed passwords and codes, across accounts.
    Failures,
    /// Texts sent.
    Sms,
    /// Password reset links asked for.
    ResetRequests,
    /// Registrations.
    Registrations,
    /// Passwordless sign-ins started (each keeps a ceremony in the store).
    #[cfg_attr(not(feature = "passkeys"), allow(dead_code))]
    PasskeySignIns,
}

impl BudgetKey {
    fn render(&self, keys: &Keys) -> String {
        match self {
            BudgetKey::Client(kind, client) => {
                let scope = match kind {
                    ClientBudget::Failures => "cf",
                    ClientBudget::Sms => "cs",
                    ClientBudget::ResetRequests => "crr",
                    ClientBudget::Registrations => "creg",
                    ClientBudget::PasskeySignIns => "cpk",
                };
                keys.state_key(scope, client)
            }
            BudgetKey::ResetEmail(email) => keys.state_key("reset", email.as_bytes()),
            BudgetKey::MailAddress(email) => keys.state_key("mail", email.as_bytes()),
            BudgetKey::SmsPhone(PhoneStatus::Verified, phone) => {
                keys.state_key("sms-p", phone.as_bytes())
            }
            BudgetKey::SmsPhone(PhoneStatus::Unverified, phone) => {
                keys.state_key("sms-pu", phone.as_bytes())
            }
            BudgetKey::SmsAccount(id) => format!("sms-a:{id}"),
            BudgetKey::SmsSite(PhoneStatus::Verified) => "sms-g".to_owned(),
            BudgetKey::SmsSite(PhoneStatus::Unverified) => "sms-ug".to_owned(),
        }
    }
}

/// Whether a phone number is a verified factor of the account or one being
/// enrolled: they spend separate SMS budgets (and have separate keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::authenticator) enum PhoneStatus {
    Verified,
    Unverified,
}

#[cfg(test)]
mod tests {
    use secrecy::SecretSlice;

    use super::*;

    fn keys() -> Keys {
        Keys::new(SecretSlice::from(
            b"pinned-state-key-secret-0123456789".to_vec(),
        ))
    }

    /// The rendered keys are the format of stored data: a change here
    /// orphans every live entry of that kind.
    #[test]
    fn keys_render_as_stored() {
        let k = keys();
        let id = UserId(42);
        let account = FailScope::Account(id);
        let email = FailScope::Email(id);
        let unknown = FailScope::Unknown("someone@example.com".into());
        let device = FailScope::Device(id, "dev1".into());
        let budgets = [
            BudgetKey::Client(ClientBudget::Failures, vec![203, 0, 113, 7]),
            BudgetKey::Client(ClientBudget::Sms, vec![203, 0, 113, 7]),
            BudgetKey::Client(ClientBudget::ResetRequests, vec![203, 0, 113, 7]),
            BudgetKey::Client(ClientBudget::Registrations, vec![203, 0, 113, 7]),
            BudgetKey::ResetEmail("a@example.com".into()),
            BudgetKey::SmsPhone(PhoneStatus::Verified, "+254700000001".into()),
            BudgetKey::SmsPhone(PhoneStatus::Unverified, "+254700000001".into()),
            BudgetKey::SmsAccount(id),
            BudgetKey::SmsSite(PhoneStatus::Verified),
            BudgetKey::SmsSite(PhoneStatus::Unverified),
            BudgetKey::MailAddress("a@example.com".into()),
        ];
        let mut rendered: Vec<String> = [
            StateKey::Challenge("tok"),
            StateKey::ChallengeAttempts("tok"),
            StateKey::Registration("tok"),
            StateKey::RegistrationUsed("tok"),
            StateKey::SmsEnrollment(id),
            StateKey::SmsEnrollmentAttempts(id),
            StateKey::TotpEnrollment(id),
            StateKey::TotpEnrollmentAttempts(id),
            StateKey::StepUpSms(id),
            StateKey::TotpStep(id),
            StateKey::ResetLink(id),
            StateKey::EmailChange(id),
            StateKey::Failures(&account),
            StateKey::Gate(&account),
            StateKey::Gates(&account),
            StateKey::Failures(&email),
            StateKey::Gate(&email),
            StateKey::Failures(&unknown),
            StateKey::Failures(&device),
            StateKey::Gate(&device),
            StateKey::MailSummary("a@example.com"),
            StateKey::SmsSiteSpent(PhoneStatus::Verified),
            StateKey::SmsSiteSpent(PhoneStatus::Unverified),
        ]
        .iter()
        .map(|key| key.render(&k))
        .collect();
        rendered.extend(budgets.iter().map(|b| StateKey::Budget(b).render(&k)));
        let expected = [
            "ch:657ba4c502397c3f3a488cc5278d3b76fdee1fec5014f6b6c2d458d2210a2625",
            "ch:657ba4c502397c3f3a488cc5278d3b76fdee1fec5014f6b6c2d458d2210a2625:n",
            "reg:5caa49bcc42d3046e234cc26572e0bd49059012f923d85a0edfd16ce8bc11287",
            "reg-used:cca6898e8affce0ac5203b0d8143504a744ca9b202628373e5c92c947de67629",
            "enroll-sms:42",
            "enroll-sms:42:n",
            "enroll-totp:42",
            "enroll-totp:42:n",
            "stepup-sms:42",
            "totp-step:42",
            "reset-link:42",
            "email-change:42",
            "fail:u:42",
            "lock:u:42",
            "gates:u:42",
            "fail:u:42:e",
            "lock:u:42:e",
            "fail:i:da691806d9460769dbed241f474066787d928d443557476995dd046c13f78780",
            "fail:u:42:d:dev1",
            "lock:u:42:d:dev1",
            "mail-sum:c714cfcbee60f45cf737291828faed477d24f354f05cd9f925a943c5ff31a459",
            "sms-g-spent",
            "sms-ug-spent",
            "rl:cf:1722394bca43bf7c660c7e773e5f62529d4cb688f9b12e6e78905e699227d98a",
            "rl:cs:3d63b6723af6933fd74687e5d7b04ff9a1b73e767c4dc3364801d52dfb371c81",
            "rl:crr:9dfebca9c22fedb8ec2141a75c273dfec2c9379712531dd6b742dbbde52a3507",
            "rl:creg:d394772202b4d82f036549138f9821f7f439c6d9c17a9775c9813faa0b69c47c",
            "rl:reset:1c035f4f57d3d85565d8644899d42b34b4500920782b4e959667059ad2c099a6",
            "rl:sms-p:28ecf1d089d94bd5bd6712388d26747b5b00eae4abad2ab4826205c6a6842137",
            "rl:sms-pu:48f40a10095b39023bde6bf2164c078a4294d06ff7b0daf3d35030f6c82ca2a3",
            "rl:sms-a:42",
            "rl:sms-g",
            "rl:sms-ug",
            "rl:mail:4424106a6708f89e7da919c4b0f61b3adc33ec36aa1f9b7d4327023da7e661a3",
        ];
        assert_eq!(rendered, expected);
    }

    /// Hashed keys are `prefix:` and the hex of an HMAC-SHA-256 of the
    /// secret under the application key: no secret appears in a key.
    #[test]
    fn secrets_appear_only_hashed() {
        let k = keys();
        let key = StateKey::Budget(&BudgetKey::SmsPhone(
            PhoneStatus::Verified,
            "+254700000001".into(),
        ))
        .render(&k);
        assert!(!key.contains("254700000001"));
        let token = StateKey::Challenge("secret-token").render(&k);
        assert!(!token.contains("secret-token"));
        assert_eq!(token.len(), "ch:".len() + 64);
    }
}
