# passbroker password capture for PAM stacks whose pam_exec cannot hand a command the new
# password (Linux-PAM 1.5.2, Debian 12: expose_authtok is for the auth type only).
#
# A pam_python module (Debian: libpam-python). On the `password` stack, after the module that
# really changes the password (pam_unix), it gives the new password (PAM_AUTHTOK) to the
# command named by its arguments on standard input, followed by a NUL, as pam_exec's
# expose_authtok does, with PAM_TYPE=password and PAM_USER in the environment:
#
#   password optional pam_python.so /usr/share/passbroker/pam/passbroker_capture.py \
#       /usr/bin/passbroker capture pam --server https://passbroker.example.com ...
#
# The password is never written anywhere by this module; what the command prints on standard
# error (what it delivered, spooled or dropped) goes to syslog (authpriv).

import subprocess
import syslog

TIMEOUT_SECS = 30


def pam_sm_chauthtok(pamh, flags, argv):
    if flags & pamh.PAM_PRELIM_CHECK:
        return pamh.PAM_SUCCESS
    command = argv[1:]
    token = pamh.authtok
    if not command or token is None or pamh.user is None:
        return pamh.PAM_IGNORE
    env = {
        "PAM_TYPE": "password",
        "PAM_USER": pamh.user,
        "PAM_SERVICE": pamh.service or "",
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    }
    try:
        done = subprocess.run(
            command,
            input=token.encode("utf-8") + b"\0",
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=TIMEOUT_SECS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as e:
        syslog.openlog("passbroker-capture", 0, syslog.LOG_AUTHPRIV)
        syslog.syslog(syslog.LOG_ERR, "could not run %s: %s" % (command[0], type(e).__name__))
        return pamh.PAM_SYSTEM_ERR
    syslog.openlog("passbroker-capture", 0, syslog.LOG_AUTHPRIV)
    for line in done.stderr.decode("utf-8", "replace").splitlines()[:50]:
        syslog.syslog(syslog.LOG_WARNING if done.returncode else syslog.LOG_INFO, line)
    return pamh.PAM_SUCCESS if done.returncode == 0 else pamh.PAM_SYSTEM_ERR
