"""Broken on purpose: imports a module that does not exist."""
import no_such_module_for_cl_poisonbench  # noqa: F401
