-- Least-privilege PostgreSQL roles and database for the Model Registry.
--
-- Run once, as a superuser or the managed service's admin role (RDS: the master user; Cloud SQL:
-- cloudsqlsuperuser; Azure: azure_pg_admin member), with psql:
--
--   psql "postgres://admin@db.internal/postgres" -v ON_ERROR_STOP=1 \
--        -v owner_password="$OWNER_PASSWORD" -v app_password="$APP_PASSWORD" \
--        -f deploy/postgres/roles.sql
--
-- Optional variables (defaults in brackets): db [model_registry], owner [model_registry_owner],
-- app [model_registry_app], owner_password / app_password [unset: set them later with \password].
--
-- Two roles, neither a superuser:
--   owner  owns the database and its schema objects; `manage.py migrate` runs as this role (its
--          URL is used only by the migrate step, never by the running services).
--   app    what the web, worker and beat processes connect as: CONNECT, USAGE on the schema,
--          SELECT/INSERT/UPDATE/DELETE on every table, USAGE/SELECT on every sequence, and no
--          DDL (it cannot CREATE, ALTER, DROP or TRUNCATE). Default privileges grant the same on
--          every table and sequence that later migrations (run as owner) create.
-- No extension is needed: the migrations create no extension (the JSON GIN indexes use the
-- built-in jsonb_path_ops operator class; no pg_trgm). Session advisory locks, used by the task
-- single-flight guard, need no privilege.

\set ON_ERROR_STOP on
\if :{?db}
\else
  \set db model_registry
\endif
\if :{?owner}
\else
  \set owner model_registry_owner
\endif
\if :{?app}
\else
  \set app model_registry_app
\endif

CREATE ROLE :"owner" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
CREATE ROLE :"app" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
\if :{?owner_password}
  ALTER ROLE :"owner" PASSWORD :'owner_password';
\endif
\if :{?app_password}
  ALTER ROLE :"app" PASSWORD :'app_password';
\endif

-- The session's admin role must be able to act as the owner (needed on managed services, where
-- the admin is not a real superuser, for CREATE DATABASE ... OWNER and the default privileges).
GRANT :"owner" TO CURRENT_USER;

CREATE DATABASE :"db" OWNER :"owner" ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"app";

\connect :"db"

-- Only the owner creates objects in the schema (PostgreSQL 15+ already revokes CREATE from
-- PUBLIC; older versions still grant it).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO :"owner";
GRANT USAGE ON SCHEMA public TO :"app";

-- Objects that exist already (re-running on a migrated database) ...
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app";
-- ... and every table and sequence that the owner creates from now on (later migrations).
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO :"app";
