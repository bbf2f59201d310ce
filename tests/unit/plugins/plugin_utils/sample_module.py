"""A module for the in-process runner's tests: it echoes, fails, raises, or registers an exit callback."""

import atexit

from ansible.module_utils.basic import AnsibleModule

CLEANED = []


def main():
    module = AnsibleModule(
        argument_spec=dict(
            word=dict(type="str", required=True),
            outcome=dict(type="str", default="exit", choices=["exit", "fail", "raise", "return"]),
            secret=dict(type="str", no_log=True),
        ),
        supports_check_mode=True,
    )
    word = module.params["word"]
    atexit.register(CLEANED.append, word)
    if module.params["outcome"] == "raise":
        raise ValueError("cannot echo %s" % word)
    if module.params["outcome"] == "fail":
        module.fail_json(msg="refused %s" % word)
    if module.params["outcome"] == "return":
        return
    module.exit_json(changed=not module.check_mode, echoed=word, secret=module.params["secret"])
