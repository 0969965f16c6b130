"""The root of every exception the package raises for its own failures, and the map of them all.

`except UsermgmtError` catches anything the package itself raised, so a caller (the CLI, a Dagster op, a
test) can tell our failures from a bug or a library's error without naming each class. Each class lives
beside the code that raises it; a family base keeps the builtin its callers already catch (`ValueError`,
`RuntimeError`), so adding the root changed no `except` clause. The tree (file paths under
`usermgmt_pipeline/`; the builtin a family also derives from in brackets)::

    UsermgmtError                            errors.py
    ├── ConfigError [ValueError]             config/errors.py: a bad config; exit 2, naming every key
    ├── YamlSyntaxError                      config/yaml_nodes.py: not one YAML document (becomes ConfigError)
    ├── _Failed                              config/decoding.py: a value whose error is already recorded
    ├── CredentialError [ValueError]         case/connections.py: a username/password Go would reject
    ├── DatabaseConnectionError              case/connections.py: a configured database did not answer
    ├── CaseDataError [ValueError]           errors.py: a stored CASE document Go would not decode either
    │   ├── GoDecodeError                    go_unmarshal.py: one field against Go's JSON or BSON rules
    │   ├── UserDecodeError                  case/users.py: that user is skipped and reported
    │   ├── StudyDecodeError                 case/studies.py
    │   └── TemplateDecodeError              case/messaging.py: the email template cannot be used
    ├── TaskFailedError [RuntimeError]       tasks/results.py: an instance's task stopped; carries its counts
    │   ├── MassDeletionGuardError           tasks/results.py: nothing deleted, rerun with the allowance
    │   ├── InstanceBusyError                tasks/instance_lock.py: another run holds the instance
    │   └── RunStoppedError                  tasks/stopping.py: the operator asked the run to stop
    │       └── LeaseLostError               tasks/stopping.py: a newer run took the instance over
    ├── MigrationError [RuntimeError]        tasks/migrate_account_info.py: one user's outcome, not raised
    ├── PartialErasureError [RuntimeError]   tasks/user_deletion.py: one user's outcome, not raised
    ├── StudyEngineError                     studyengine/errors.py: a rule failed as it fails in Go
    │   └── StudyEnginePanic                 studyengine/errors.py: where Go panics; ends the rule run
    ├── ActionFailure                        studyengine/actions.py: a StudyEngineError plus Go's state
    ├── TemplateRenderError [ValueError]     gotemplate/errors.py: the one error of the template port's API
    ├── GoTemplateError                      gotemplate/errors.py: internal, becomes TemplateRenderError
    │   ├── ParseError                       gotemplate/parser.py
    │   ├── ExecError                        gotemplate/execute.py
    │   ├── RenderLimitError                 gotemplate/execute.py
    │   └── EscapeFailure                    gotemplate/escape.py
    ├── _Break, _Continue                    gotemplate/execute.py: `{{break}}`/`{{continue}}`, never escape
    ├── EmailTemplateError [ValueError]      emails/templates.py: no email Go would send; names the template
    ├── SmtpBridgeError [RuntimeError]       smtp_bridge.py: the bridge refused an email
    ├── ReviewDirError [ValueError]          review/files.py: the review folder cannot be used; exit 2
    ├── LoggingSetupError [RuntimeError]     logging_setup.py: the `logging` section cannot be applied
    │   ├── BuildInfoError                   logging_setup.py
    │   └── LogFileError                     logging_setup.py
    └── DagsterHomeError [RuntimeError]      orchestration/dagster_home.py: DAGSTER_HOME is unusable; exit 2

    BaseException
    └── LeaseLost                            case/leases.py: deliberately *not* a UsermgmtError, nor an
                                             Exception: a stop signal no per-user `except Exception` may
                                             swallow; the task layer turns it into LeaseLostError

A new exception class derives from `UsermgmtError` (or its family) and gets a line here; a test holds both.
"""

from __future__ import annotations


class UsermgmtError(Exception):
    """A failure the package itself detected and raised; the message says what to fix and never holds a secret."""


class CaseDataError(UsermgmtError, ValueError):
    """A CASE document that does not decode as the Go services' structs; the user or study it belongs to is
    skipped and reported, the rest processed. A `ValueError`, as the decoders' callers have always caught."""
