//! Reading Docker/OCI profile JSON (no root needed).

use cove_seccomp::{Arch, Filter, Profile, SeccompError, SeccompProfile, Verdict};

/// A profile in the shape of moby's default.json: archMap, `names`, `args: null`, comments,
/// includes/excludes with caps, arches and minKernel, plus an old-style `name` rule.
const DOCKER_STYLE: &str = r#"{
  "defaultAction": "SCMP_ACT_ERRNO",
  "defaultErrnoRet": 1,
  "archMap": [
    { "architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"] },
    { "architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"] }
  ],
  "syscalls": [
    {
      "names": ["accept", "read", "write", "exit_group", "getpid", "no_such_syscall"],
      "action": "SCMP_ACT_ALLOW",
      "args": null,
      "comment": "",
      "includes": {},
      "excludes": {}
    },
    {
      "names": ["ptrace"],
      "action": "SCMP_ACT_ALLOW",
      "includes": { "minKernel": "4.8" }
    },
    {
      "names": ["personality"],
      "action": "SCMP_ACT_ALLOW",
      "args": [ { "index": 0, "value": 4294967295, "op": "SCMP_CMP_EQ" } ]
    },
    {
      "names": ["clone"],
      "action": "SCMP_ACT_ALLOW",
      "args": [ { "index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ" } ],
      "excludes": { "caps": ["CAP_SYS_ADMIN"], "arches": ["s390", "s390x"] }
    },
    {
      "names": ["clone3"],
      "action": "SCMP_ACT_ERRNO",
      "errnoRet": 38,
      "excludes": { "caps": ["CAP_SYS_ADMIN"] }
    },
    {
      "names": ["mount", "clone", "clone3"],
      "action": "SCMP_ACT_ALLOW",
      "includes": { "caps": ["CAP_SYS_ADMIN"] }
    },
    {
      "names": ["arch_prctl"],
      "action": "SCMP_ACT_ALLOW",
      "includes": { "arches": ["amd64", "x32"] }
    },
    { "name": "getppid", "action": "SCMP_ACT_ERRNO", "errnoRet": 42, "args": [] }
  ]
}"#;

#[test]
fn parses_a_docker_style_profile() {
    let p = SeccompProfile::from_json(DOCKER_STYLE).unwrap();
    assert_eq!(p.default_action, "SCMP_ACT_ERRNO");
    assert_eq!(p.default_errno_ret, Some(1));
    assert_eq!(p.arch_map.len(), 2);
    assert_eq!(
        p.arch_map[0].sub_architectures,
        ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    );
    assert_eq!(p.syscalls.len(), 8);
    assert!(p.syscalls[0].args.is_empty());
    assert_eq!(p.syscalls[1].includes.min_kernel.as_deref(), Some("4.8"));
    let clone = &p.syscalls[3];
    assert_eq!(clone.args[0].value, 0x7E02_0000);
    assert_eq!(clone.args[0].op, "SCMP_CMP_MASKED_EQ");
    assert_eq!(clone.excludes.caps, ["CAP_SYS_ADMIN"]);
    assert_eq!(clone.excludes.arches, ["s390", "s390x"]);
    assert_eq!(p.syscalls[4].errno_ret, Some(38));
    assert_eq!(p.syscalls[7].name.as_deref(), Some("getppid"));
    assert_eq!(p.syscalls[7].all_names().collect::<Vec<_>>(), ["getppid"]);
}

#[test]
fn docker_style_profile_compiles_with_its_semantics() {
    let p = SeccompProfile::from_json(DOCKER_STYLE).unwrap();
    let plain = Filter::compile_for(&p, &[], Arch::X86_64, None).unwrap();
    let admin = Filter::compile_for(&p, &["CAP_SYS_ADMIN".into()], Arch::X86_64, None).unwrap();
    let newuser = libc::CLONE_NEWUSER as u64;
    assert_eq!(plain.check("getpid", [0; 6]), Some(Verdict::Allow));
    assert_eq!(plain.check("getppid", [0; 6]), Some(Verdict::Errno(42)));
    assert_eq!(
        plain.check("clone", [newuser, 0, 0, 0, 0, 0]),
        Some(Verdict::Errno(1))
    );
    assert_eq!(
        plain.check("clone", [17, 0, 0, 0, 0, 0]),
        Some(Verdict::Allow)
    );
    assert_eq!(plain.check("clone3", [0; 6]), Some(Verdict::Errno(38)));
    assert_eq!(plain.check("mount", [0; 6]), Some(Verdict::Errno(1)));
    assert_eq!(plain.check("arch_prctl", [0; 6]), Some(Verdict::Allow));
    assert_eq!(
        plain.check("personality", [0xffff_ffff, 0, 0, 0, 0, 0]),
        Some(Verdict::Allow)
    );
    assert_eq!(
        plain.check("personality", [0, 0, 0, 0, 0, 0]),
        Some(Verdict::Errno(1))
    );
    assert_eq!(
        admin.check("clone", [newuser, 0, 0, 0, 0, 0]),
        Some(Verdict::Allow)
    );
    assert_eq!(admin.check("clone3", [0; 6]), Some(Verdict::Allow));
    assert_eq!(admin.check("mount", [0; 6]), Some(Verdict::Allow));
}

#[test]
fn docker_default_round_trips_through_json() {
    let default = SeccompProfile::docker_default();
    let text = default.to_json();
    assert!(text.contains("\"defaultAction\": \"SCMP_ACT_ERRNO\""));
    assert!(text.contains("\"errnoRet\": 38"));
    assert_eq!(SeccompProfile::from_json(&text).unwrap(), default);
}

#[test]
fn reads_files_and_settings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("profile.json");
    std::fs::write(&path, DOCKER_STYLE).unwrap();
    let from_file = SeccompProfile::from_file(&path).unwrap();
    assert_eq!(from_file, SeccompProfile::from_json(DOCKER_STYLE).unwrap());

    assert_eq!(Profile::from_setting("default").unwrap(), Profile::Default);
    assert_eq!(
        Profile::from_setting("unconfined").unwrap(),
        Profile::Unconfined
    );
    assert!(Profile::Unconfined.compile(&[]).unwrap().is_none());
    let custom = Profile::from_setting(path.to_str().unwrap()).unwrap();
    assert_eq!(custom, Profile::Custom(from_file));
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    {
        let filter = custom.compile(&[]).unwrap().unwrap();
        assert_eq!(filter.check("getppid", [0; 6]), Some(Verdict::Errno(42)));
        let default = Profile::Default.compile(&[]).unwrap().unwrap();
        assert_eq!(default.check("keyctl", [0; 6]), Some(Verdict::Errno(1)));
    }

    let missing = dir.path().join("missing.json");
    let err = SeccompProfile::from_file(&missing).unwrap_err();
    assert!(matches!(&err, SeccompError::ReadProfile { path, .. } if *path == missing));
}

#[test]
fn json_and_validation_errors_say_where() {
    let err = SeccompProfile::from_json("{ \"defaultAction\": ").unwrap_err();
    assert!(matches!(&err, SeccompError::ParseProfile { origin, .. } if origin == "<inline JSON>"));

    let bad_action = r#"{ "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [ { "names": ["read"], "action": "SCMP_ACT_ALLOW" },
                      { "names": ["a", "b", "c", "d"], "action": "ALLOW" } ] }"#;
    let err = SeccompProfile::from_json(bad_action).unwrap_err();
    assert_eq!(
        err.to_string(),
        "seccomp profile syscalls[1] (a, b, c, … 1 more): unknown action \"ALLOW\""
    );

    let bad_op = r#"{ "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [ { "names": ["clone"], "action": "SCMP_ACT_ALLOW",
                        "args": [ { "index": 0, "value": 1, "op": "SCMP_CMP_SET" } ] } ] }"#;
    let err = SeccompProfile::from_json(bad_op).unwrap_err();
    assert!(
        matches!(&err, SeccompError::UnknownOperator { rule, arg: 0, op }
        if rule == "syscalls[0] (clone)" && op == "SCMP_CMP_SET")
    );

    let notify = r#"{ "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [ { "names": ["bind"], "action": "SCMP_ACT_NOTIFY" } ] }"#;
    let profile = SeccompProfile::from_json(notify).expect("SCMP_ACT_NOTIFY parses");
    assert_eq!(profile.syscalls[0].action, "SCMP_ACT_NOTIFY");

    let no_names = r#"{ "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [ { "action": "SCMP_ACT_ERRNO" } ] }"#;
    assert!(matches!(
        SeccompProfile::from_json(no_names).unwrap_err(),
        SeccompError::NoSyscallNames { index: 0 }
    ));

    let bad_kernel = r#"{ "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [ { "names": ["x"], "action": "SCMP_ACT_ERRNO", "includes": { "minKernel": "four" } } ] }"#;
    assert!(matches!(
        SeccompProfile::from_json(bad_kernel).unwrap_err(),
        SeccompError::KernelVersion { .. }
    ));
}

#[test]
fn running_kernel_version_is_read() {
    let v = cove_seccomp::KernelVersion::running().unwrap();
    assert!(v >= "3.0".parse().unwrap(), "{v}");
}

#[test]
fn oci_shaped_values_and_flags() {
    // The shape of an OCI config.json `linux.seccomp` object.
    let value = serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "syscalls": [
            { "names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42 }
        ]
    });
    let p = SeccompProfile::from_value(value).unwrap();
    assert_eq!(p.flags, ["SECCOMP_FILTER_FLAG_LOG"]);
    assert_eq!(p.architectures.len(), 2);
    let f = Filter::compile_for(&p, &[], Arch::X86_64, None).unwrap();
    assert_eq!(f.check("getppid", [0; 6]), Some(Verdict::Errno(42)));

    let listener = serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_NEW_LISTENER"]
    });
    let p = SeccompProfile::from_value(listener).unwrap();
    let f = Filter::compile_for(&p, &[], Arch::X86_64, None).unwrap();
    assert!(f.notifies(), "NEW_LISTENER alone asks for a listener");
    assert_eq!(f.check("getppid", [0; 6]), Some(Verdict::Allow));
    let not_a_profile = serde_json::json!({ "syscalls": [] });
    assert!(matches!(
        SeccompProfile::from_value(not_a_profile).unwrap_err(),
        SeccompError::ParseProfile { .. }
    ));
}
