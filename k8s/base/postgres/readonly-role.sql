-- The read-only role of modelreg's pods that only read the registry (TorchServe's init
-- container, the registry exporter). Run by the database owner (the tables' creator) with
-- psql, which reads the role's password from the environment variable READONLY_PASSWORD:
--   READONLY_PASSWORD=... psql -v ON_ERROR_STOP=1 -f readonly-role.sql "$OWNER_DSN"
-- Idempotent: run it again after a password change.
\getenv readonly_password READONLY_PASSWORD
\if :{?readonly_password}
\else
  SELECT 'READONLY_PASSWORD is not set: give the password of Secret modelreg-db-readonly'::int;
\endif
SELECT 'CREATE ROLE modelreg_readonly LOGIN'
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'modelreg_readonly')\gexec
ALTER ROLE modelreg_readonly WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
  PASSWORD :'readonly_password';
-- Every transaction of the role is read-only unless it says otherwise (it cannot write
-- even a table that misses the grants below).
ALTER ROLE modelreg_readonly SET default_transaction_read_only = on;
GRANT CONNECT ON DATABASE :"DBNAME" TO modelreg_readonly;
GRANT USAGE ON SCHEMA public TO modelreg_readonly;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO modelreg_readonly;
-- Tables the owner creates later (MLflow's and modelreg's migrations) are readable too.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO modelreg_readonly;
