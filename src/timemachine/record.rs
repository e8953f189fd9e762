//! The time machine as the audit sink: records of calls (read-only ones queued and written
//! in batches), of journal events (recovery, undo, redo, reset), and reading the log back.

use super::db::{self, OpRow};
use super::{TimeMachine, audit, head, now, state_err};
use crate::error::CapError;
use crate::hooks::{AuditEvent, AuditSink, OpId};
use crate::users::OPERATOR;

impl TimeMachine {
    fn audit_record(&self, event: &AuditEvent<'_>) -> audit::Record {
        let mut record = self.journal_record(
            event.capability,
            audit::shrink(event.params.clone()),
            &event.decision.label(),
            event.outcome,
            event.op,
        );
        record.principal = event.principal.to_string();
        record.duration_ms = i64::try_from(event.duration_ms).unwrap_or(i64::MAX);
        record
    }

    /// An audit record for a journal event (recovery, undo, redo, reset), the operator's
    /// until the caller names another principal.
    pub(super) fn journal_record(
        &self,
        capability: &str,
        params: serde_json::Value,
        decision: &str,
        outcome: &str,
        op: Option<OpId>,
    ) -> audit::Record {
        audit::Record {
            seq: 0,
            time: now(),
            user: self.user.clone(),
            workspace: self.workspace.clone(),
            capability: capability.to_string(),
            params,
            decision: decision.into(),
            outcome: outcome.into(),
            duration_ms: 0,
            op,
            prev_hash: String::new(),
            hash: String::new(),
            principal: OPERATOR.to_string(),
            principal_chained: true,
        }
    }

    /// Writes the audit record of an op recovery settled, with its `outcome`, in the name
    /// of the principal whose op it was.
    pub(super) fn record_recovered(
        &self,
        row: &OpRow,
        outcome: &str,
        id: OpId,
    ) -> Result<(), CapError> {
        let params = serde_json::from_str(&row.params).unwrap_or_default();
        let mut record =
            self.journal_record(&row.capability, params, "recovered", outcome, Some(id));
        record.principal = row.principal.clone();
        // Through the queue, behind the records queued before it.
        self.reads.write(Some(record)).map_err(state_err)
    }

    /// Audit records, oldest first (`limit` keeps the newest).
    pub fn audit_records(&self, limit: Option<usize>) -> Result<Vec<audit::Record>, CapError> {
        self.audit_records_of(None, limit)
    }

    /// The audit records of one principal (everyone's with `None`), oldest first
    /// (`limit` keeps the newest).
    pub fn audit_records_of(
        &self,
        principal: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<audit::Record>, CapError> {
        self.reads.write(None).map_err(state_err)?;
        db::audit_records(&self.conn(), limit, principal).map_err(state_err)
    }

    /// One page of audit records, oldest first (see [`audit::AuditQuery`]).
    pub fn audit_page(&self, q: &audit::AuditQuery) -> Result<Vec<audit::Record>, CapError> {
        self.reads.write(None).map_err(state_err)?;
        db::audit_page(&self.conn(), q).map_err(state_err)
    }

    /// Checks the audit chain: the number of records, or the first bad one.
    pub fn audit_verify(&self) -> Result<Result<usize, String>, CapError> {
        self.reads.write(None).map_err(state_err)?;
        let conn = self.conn();
        match audit::verify(&conn).map_err(state_err)? {
            Ok(n) => Ok(head::check(&conn, &self.dir).map(|()| n)),
            bad => Ok(bad),
        }
    }

    /// Writes the audit record of a journal command the operator ran (`airun undo`,
    /// `redo`): allowed, with its outcome; an error when the record cannot be written.
    pub fn record_event(
        &self,
        capability: &str,
        params: serde_json::Value,
        outcome: &str,
        duration_ms: u64,
    ) -> Result<(), CapError> {
        self.record_event_as(OPERATOR, capability, params, outcome, duration_ms)
    }

    /// [`record_event`](TimeMachine::record_event) in the name of `principal`: the user
    /// who asked for the undo or redo.
    pub fn record_event_as(
        &self,
        principal: &str,
        capability: &str,
        params: serde_json::Value,
        outcome: &str,
        duration_ms: u64,
    ) -> Result<(), CapError> {
        let mut record = self.journal_record(capability, params, "allowed", outcome, None);
        record.principal = principal.to_string();
        record.duration_ms = i64::try_from(duration_ms).unwrap_or(i64::MAX);
        self.reads.write(Some(record)).map_err(state_err)
    }
}

impl AuditSink for TimeMachine {
    fn tail(&self, limit: usize) -> Result<Vec<serde_json::Value>, CapError> {
        Ok(self
            .audit_records(Some(limit))?
            .iter()
            .map(|r| serde_json::to_value(r).unwrap_or_default())
            .collect())
    }

    fn record(&self, event: &AuditEvent<'_>) {
        if let Err(e) = self.reads.write(Some(self.audit_record(event))) {
            eprintln!("airun: could not write the audit record: {e}");
            // The record's sync would have carried the change's commit to disk: an
            // answered change survives a power cut all the same.
            self.sync_log();
        }
    }

    fn record_read(&self, event: &AuditEvent<'_>) {
        self.reads.push(self.audit_record(event));
    }

    fn flush(&self) {
        if let Err(e) = self.reads.write(None) {
            eprintln!("airun: could not write the audit records: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::hooks::{ApprovedBy, Decision};

    /// The names the audit log has always recorded: serde's names of the decision, and
    /// `approved_by_<who>` for an approval.
    #[test]
    fn decisions_are_recorded_by_their_serde_names() {
        let name = |v: serde_json::Value| v.as_str().unwrap().to_string();
        for d in [
            Decision::Allowed,
            Decision::DeniedPolicy,
            Decision::DeniedSandbox,
            Decision::Declined,
            Decision::Invalid,
        ] {
            assert_eq!(d.as_str(), name(serde_json::to_value(d).unwrap()));
        }
        for by in [
            ApprovedBy::Tty,
            ApprovedBy::Flag,
            ApprovedBy::Elicitation,
            ApprovedBy::Policy,
        ] {
            let want = format!("approved_by_{}", name(serde_json::to_value(by).unwrap()));
            assert_eq!(Decision::Approved(by).as_str(), want);
        }
    }
}
