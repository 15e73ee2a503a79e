//! Mapping of the profile's action and operator strings to seccompiler's types.

use seccompiler::{SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition};

use crate::profile::ArgFilter;
use crate::SeccompError;

/// The errno of an `SCMP_ACT_ERRNO` without `errnoRet` (as runc: EPERM).
const DEFAULT_ERRNO: u32 = libc::EPERM as u32;

/// A rule's action: one seccompiler knows, or seccomp user notification (which it does not).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Action {
    /// An action seccompiler can express.
    Kernel(SeccompAction),
    /// `SCMP_ACT_NOTIFY`: `SECCOMP_RET_USER_NOTIF`, the syscall waits for the listener's answer.
    Notify,
}

impl Action {
    /// `SECCOMP_RET_KILL_PROCESS`.
    pub(crate) const KILL_PROCESS: Action = Action::Kernel(SeccompAction::KillProcess);

    /// The filter's return value for this action.
    pub(crate) fn ret_value(&self) -> u32 {
        match self {
            Action::Kernel(action) => u32::from(action.clone()),
            Action::Notify => libc::SECCOMP_RET_USER_NOTIF,
        }
    }
}

/// Parses an action string of the profile (`rule` names its place for the error).
///
/// `SCMP_ACT_KILL` is libseccomp's alias of `SCMP_ACT_KILL_THREAD`.
pub(crate) fn parse(
    action: &str,
    errno_ret: Option<u32>,
    rule: &str,
) -> Result<Action, SeccompError> {
    if action == "SCMP_ACT_NOTIFY" {
        return Ok(Action::Notify);
    }
    parse_kernel(action, errno_ret, rule).map(Action::Kernel)
}

/// Parses an action seccompiler can express.
fn parse_kernel(
    action: &str,
    errno_ret: Option<u32>,
    rule: &str,
) -> Result<SeccompAction, SeccompError> {
    let ret = errno_ret.unwrap_or(DEFAULT_ERRNO);
    Ok(match action {
        "SCMP_ACT_ALLOW" => SeccompAction::Allow,
        "SCMP_ACT_ERRNO" => SeccompAction::Errno(ret),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => SeccompAction::KillThread,
        "SCMP_ACT_KILL_PROCESS" => SeccompAction::KillProcess,
        "SCMP_ACT_LOG" => SeccompAction::Log,
        "SCMP_ACT_TRACE" => SeccompAction::Trace(ret),
        "SCMP_ACT_TRAP" => SeccompAction::Trap,
        _ => {
            return Err(SeccompError::UnknownAction {
                rule: rule.to_owned(),
                action: action.to_owned(),
            })
        }
    })
}

/// The `seccomp()` flags of a profile's `flags`, as one bit set.
///
/// `SECCOMP_FILTER_FLAG_NEW_LISTENER` is accepted; a filter with `SCMP_ACT_NOTIFY` rules gets it anyway.
pub(crate) fn flags(names: &[String]) -> Result<libc::c_ulong, SeccompError> {
    names.iter().try_fold(0, |bits, name| {
        let bit = match name.as_str() {
            "SECCOMP_FILTER_FLAG_TSYNC" => libc::SECCOMP_FILTER_FLAG_TSYNC,
            "SECCOMP_FILTER_FLAG_LOG" => libc::SECCOMP_FILTER_FLAG_LOG,
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            "SECCOMP_FILTER_FLAG_NEW_LISTENER" => libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
            _ => {
                return Err(SeccompError::UnknownFlag { flag: name.clone() });
            }
        };
        Ok(bits | bit)
    })
}

/// Translates one argument filter (`arg` is its position in the rule's `args`).
///
/// Comparisons are 64 bits wide, as libseccomp makes them on 64-bit architectures; for
/// `SCMP_CMP_MASKED_EQ` `value` is the mask and `valueTwo` the expected masked value.
pub(crate) fn condition(
    filter: &ArgFilter,
    arg: usize,
    rule: &str,
) -> Result<SeccompCondition, SeccompError> {
    let op = match filter.op.as_str() {
        "SCMP_CMP_EQ" => SeccompCmpOp::Eq,
        "SCMP_CMP_NE" => SeccompCmpOp::Ne,
        "SCMP_CMP_LT" => SeccompCmpOp::Lt,
        "SCMP_CMP_LE" => SeccompCmpOp::Le,
        "SCMP_CMP_GT" => SeccompCmpOp::Gt,
        "SCMP_CMP_GE" => SeccompCmpOp::Ge,
        "SCMP_CMP_MASKED_EQ" => SeccompCmpOp::MaskedEq(filter.value),
        _ => {
            return Err(SeccompError::UnknownOperator {
                rule: rule.to_owned(),
                arg,
                op: filter.op.clone(),
            })
        }
    };
    let (op, value) = match op {
        // libseccomp compares `(arg & value) == valueTwo` literally: bits of valueTwo outside the
        // mask can never match. seccompiler would mask valueTwo too, so say "never" explicitly
        // (no unsigned argument is below 0).
        SeccompCmpOp::MaskedEq(mask) if filter.value_two & !mask != 0 => (SeccompCmpOp::Lt, 0),
        SeccompCmpOp::MaskedEq(_) => (op, filter.value_two),
        _ => (op, filter.value),
    };
    let index = u8::try_from(filter.index)
        .ok()
        .filter(|i| *i <= 5)
        .ok_or_else(|| SeccompError::ArgumentIndex {
            rule: rule.to_owned(),
            arg,
            index: filter.index,
        })?;
    SeccompCondition::new(index, SeccompCmpArgLen::Qword, op, value).map_err(|source| {
        SeccompError::Backend {
            rule: rule.to_owned(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arg(op: &str, value: u64, value_two: u64) -> ArgFilter {
        ArgFilter {
            index: 1,
            value,
            value_two,
            op: op.to_owned(),
        }
    }

    #[test]
    fn actions_map_to_seccompiler() {
        let cases = [
            ("SCMP_ACT_ALLOW", None, SeccompAction::Allow),
            ("SCMP_ACT_ERRNO", None, SeccompAction::Errno(1)),
            ("SCMP_ACT_ERRNO", Some(38), SeccompAction::Errno(38)),
            ("SCMP_ACT_KILL", None, SeccompAction::KillThread),
            ("SCMP_ACT_KILL_THREAD", None, SeccompAction::KillThread),
            ("SCMP_ACT_KILL_PROCESS", None, SeccompAction::KillProcess),
            ("SCMP_ACT_LOG", None, SeccompAction::Log),
            ("SCMP_ACT_TRACE", Some(7), SeccompAction::Trace(7)),
            ("SCMP_ACT_TRAP", None, SeccompAction::Trap),
        ];
        for (text, errno, want) in cases {
            assert_eq!(
                parse(text, errno, "r").unwrap(),
                Action::Kernel(want),
                "{text}"
            );
        }
        assert_eq!(parse("SCMP_ACT_NOTIFY", None, "r").unwrap(), Action::Notify);
        assert_eq!(Action::Notify.ret_value(), 0x7fc0_0000);
    }

    #[test]
    fn unknown_actions_name_the_rule() {
        let err = parse("SCMP_ACT_ALOW", None, "syscalls[2] (read)").unwrap_err();
        assert!(matches!(&err, SeccompError::UnknownAction { rule, action }
            if rule == "syscalls[2] (read)" && action == "SCMP_ACT_ALOW"));
        assert_eq!(
            err.to_string(),
            "seccomp profile syscalls[2] (read): unknown action \"SCMP_ACT_ALOW\""
        );
    }

    #[test]
    fn operators_map_to_seccompiler() {
        let cases = [
            ("SCMP_CMP_EQ", SeccompCmpOp::Eq, 13),
            ("SCMP_CMP_NE", SeccompCmpOp::Ne, 13),
            ("SCMP_CMP_LT", SeccompCmpOp::Lt, 13),
            ("SCMP_CMP_LE", SeccompCmpOp::Le, 13),
            ("SCMP_CMP_GT", SeccompCmpOp::Gt, 13),
            ("SCMP_CMP_GE", SeccompCmpOp::Ge, 13),
            // MASKED_EQ: value is the mask, valueTwo the expected result.
            ("SCMP_CMP_MASKED_EQ", SeccompCmpOp::MaskedEq(13), 9),
        ];
        for (text, op, value) in cases {
            let got = condition(&arg(text, 13, 9), 0, "r").unwrap();
            let want = SeccompCondition::new(1, SeccompCmpArgLen::Qword, op, value).unwrap();
            assert_eq!(got, want, "{text}");
        }
    }

    #[test]
    fn flags_map_to_bits() {
        let names = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(flags(&[]).unwrap(), 0);
        assert_eq!(
            flags(&names(&[
                "SECCOMP_FILTER_FLAG_LOG",
                "SECCOMP_FILTER_FLAG_SPEC_ALLOW"
            ]))
            .unwrap(),
            libc::SECCOMP_FILTER_FLAG_LOG | libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
        );
        assert_eq!(
            flags(&names(&["SECCOMP_FILTER_FLAG_NEW_LISTENER"])).unwrap(),
            1 << 3
        );
        assert!(matches!(
            flags(&names(&["SECCOMP_FILTER_FLAG_NEW_LISTNER"])).unwrap_err(),
            SeccompError::UnknownFlag { flag } if flag == "SECCOMP_FILTER_FLAG_NEW_LISTNER"
        ));
    }

    #[test]
    fn masked_eq_with_bits_outside_the_mask_never_matches() {
        let got = condition(&arg("SCMP_CMP_MASKED_EQ", 0xff, 0x100), 0, "r").unwrap();
        let never = SeccompCondition::new(1, SeccompCmpArgLen::Qword, SeccompCmpOp::Lt, 0).unwrap();
        assert_eq!(got, never);
    }

    #[test]
    fn bad_operator_and_index_are_errors() {
        let err = condition(&arg("SCMP_CMP_LIKE", 1, 0), 2, "syscalls[4] (clone)").unwrap_err();
        assert!(
            matches!(&err, SeccompError::UnknownOperator { rule, arg: 2, op }
            if rule == "syscalls[4] (clone)" && op == "SCMP_CMP_LIKE")
        );
        let mut bad = arg("SCMP_CMP_EQ", 1, 0);
        bad.index = 6;
        assert!(matches!(
            condition(&bad, 0, "r").unwrap_err(),
            SeccompError::ArgumentIndex { index: 6, .. }
        ));
    }
}
