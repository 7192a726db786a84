"""Who gets which database credentials: the registry's writers the owner's DSN
(``modelreg-db``), every other pod a read-only DSN (``modelreg-db-readonly``) of a
PostgreSQL role that can SELECT and nothing else; and the Job that creates that role.

Writers: PostgreSQL (it sets the owner's password), MLflow's server (its backend store),
the MCP server (promotions, proposals, the audit trail) and the Job below (it grants).
Readers: the TorchServe pods' init container (``modelreg k8s archives`` reads versions,
trust marks and download URIs; the artifacts come through MLflow's artifact proxy) and the
registry exporter (one SELECT per scrape). A pod that is neither gets no database
credentials at all.

The role is made read-only twice: it is granted SELECT only, and its sessions default to
read-only transactions (``default_transaction_read_only``), so even a table created later
without the default privileges below cannot be written through it.
"""

from __future__ import annotations

from registry_mcp.deploy.kubernetes.workloads import (
    COMPONENT,
    DB_READONLY_SECRET,
    DB_SECRET,
    PART_OF,
    POSTGRES_PORT,
    Obj,
    container_security,
    labels,
    make_pod,
    resource_block,
    secret_env,
)

READONLY_ROLE = "modelreg_readonly"
ROLE_JOB = "postgres-readonly-role"
ROLE_CONFIGMAP = "postgres-readonly-role"  # file readonly-role.sql
ROLE_SQL_FILE = "readonly-role.sql"
ROLE_COMPONENT = "postgres-role"
POSTGRES_CLIENT_IMAGE = "postgres:16.6"  # psql, the same release as the server

WRITERS = frozenset({"postgres", "mlflow", "modelreg-mcp", ROLE_JOB})
"""The workloads that hold the registry's write credentials (PostgreSQL itself: the owner's
password it starts with); tests/k8s checks every rendered pod against this list."""

READONLY_ROLE_SQL = f"""\
-- The read-only role of modelreg's pods that only read the registry (TorchServe's init
-- container, the registry exporter). Run by the database owner (the tables' creator) with
-- psql, which reads the role's password from the environment variable READONLY_PASSWORD:
--   READONLY_PASSWORD=... psql -v ON_ERROR_STOP=1 -f {ROLE_SQL_FILE} "$OWNER_DSN"
-- Idempotent: run it again after a password change.
\\getenv readonly_password READONLY_PASSWORD
\\if :{{?readonly_password}}
\\else
  SELECT 'READONLY_PASSWORD is not set: give the password of Secret modelreg-db-readonly'::int;
\\endif
SELECT 'CREATE ROLE {READONLY_ROLE} LOGIN'
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{READONLY_ROLE}')\\gexec
ALTER ROLE {READONLY_ROLE} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
  PASSWORD :'readonly_password';
-- Every transaction of the role is read-only unless it says otherwise (it cannot write
-- even a table that misses the grants below).
ALTER ROLE {READONLY_ROLE} SET default_transaction_read_only = on;
GRANT CONNECT ON DATABASE :"DBNAME" TO {READONLY_ROLE};
GRANT USAGE ON SCHEMA public TO {READONLY_ROLE};
GRANT SELECT ON ALL TABLES IN SCHEMA public TO {READONLY_ROLE};
-- Tables the owner creates later (MLflow's and modelreg's migrations) are readable too.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {READONLY_ROLE};
"""


def role_objects() -> list[Obj]:
    """A Job that runs ``READONLY_ROLE_SQL`` as the database owner (re-run it: delete and
    apply, after changing the read-only password or restoring the database), and its
    NetworkPolicy: nothing connects to it."""
    container = {
        "name": "psql",
        "image": POSTGRES_CLIENT_IMAGE,
        "command": ["psql"],
        "args": ["-v", "ON_ERROR_STOP=1", "-f", f"/etc/modelreg-sql/{ROLE_SQL_FILE}"],
        "env": [
            {"name": "PGHOST", "value": "postgres"},
            {"name": "PGPORT", "value": str(POSTGRES_PORT)},
            {"name": "PGUSER", "value": "modelreg"},
            {"name": "PGDATABASE", "value": "modelreg"},
            secret_env("PGPASSWORD", DB_SECRET, "password"),
            secret_env("READONLY_PASSWORD", DB_READONLY_SECRET, "password"),
        ],
        "resources": resource_block("50m", "64Mi", "200m", "128Mi"),
        "securityContext": container_security(),
        "volumeMounts": [
            {"name": "sql", "mountPath": "/etc/modelreg-sql", "readOnly": True},
        ],
    }
    pod = make_pod([container], [{"name": "sql", "configMap": {"name": ROLE_CONFIGMAP}}])
    pod["restartPolicy"] = "OnFailure"  # PostgreSQL may still be starting
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": ROLE_JOB, "labels": labels(ROLE_COMPONENT, ROLE_JOB)},
        "spec": {
            "backoffLimit": 10,
            "template": {"metadata": {"labels": labels(ROLE_COMPONENT, ROLE_JOB)}, "spec": pod},
        },
    }
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": f"{ROLE_JOB}-ingress", "labels": {PART_OF: "modelreg"}},
        "spec": {
            "podSelector": {"matchLabels": {COMPONENT: ROLE_COMPONENT}},
            "policyTypes": ["Ingress"],
            "ingress": [],
        },
    }
    return [job, policy]
