import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE products (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      owner_id text NOT NULL,
      name text NOT NULL,
      description text NOT NULL DEFAULT '',
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )
  `.execute(db);
  await sql`CREATE INDEX products_owner_idx ON products (owner_id, created_at)`.execute(db);

  await sql`
    CREATE TABLE pbis (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      product_id uuid NOT NULL REFERENCES products (id),
      title text NOT NULL,
      description text NOT NULL DEFAULT '',
      status text NOT NULL DEFAULT 'READY'
        CONSTRAINT pbis_status_check CHECK (status IN ('READY', 'BLOCKED', 'DONE', 'FAILED')),
      priority integer NOT NULL DEFAULT 0,
      sort_order integer NOT NULL DEFAULT 0,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )
  `.execute(db);
  await sql`CREATE INDEX pbis_product_idx ON pbis (product_id, sort_order)`.execute(db);

  await sql`
    CREATE TABLE sprints (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      product_id uuid NOT NULL REFERENCES products (id),
      name text NOT NULL,
      goal text NOT NULL DEFAULT '',
      status text NOT NULL DEFAULT 'ACTIVE'
        CONSTRAINT sprints_status_check CHECK (status IN ('ACTIVE', 'COMPLETED', 'FAILED')),
      starts_at timestamptz,
      ends_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )
  `.execute(db);
  await sql`CREATE INDEX sprints_product_idx ON sprints (product_id, created_at)`.execute(db);

  await sql`
    CREATE TABLE stories (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      pbi_id uuid NOT NULL REFERENCES pbis (id),
      sprint_id uuid REFERENCES sprints (id),
      title text NOT NULL,
      description text NOT NULL DEFAULT '',
      status text NOT NULL DEFAULT 'OPEN'
        CONSTRAINT stories_status_check CHECK (status IN ('OPEN', 'IN_SPRINT', 'DONE', 'FAILED')),
      sort_order integer NOT NULL DEFAULT 0,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )
  `.execute(db);
  await sql`CREATE INDEX stories_pbi_idx ON stories (pbi_id, sort_order)`.execute(db);
  await sql`CREATE INDEX stories_sprint_idx ON stories (sprint_id) WHERE sprint_id IS NOT NULL`.execute(db);

  await sql`
    CREATE TABLE tasks (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      story_id uuid NOT NULL REFERENCES stories (id),
      sprint_id uuid REFERENCES sprints (id),
      title text NOT NULL,
      description text NOT NULL DEFAULT '',
      implementation_plan text,
      status text NOT NULL DEFAULT 'TO_DO'
        CONSTRAINT tasks_status_check CHECK (status IN ('TO_DO', 'IN_PROGRESS', 'REVIEW', 'DONE', 'FAILED')),
      sort_order integer NOT NULL DEFAULT 0,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    )
  `.execute(db);
  await sql`CREATE INDEX tasks_story_idx ON tasks (story_id, sort_order)`.execute(db);
  await sql`CREATE INDEX tasks_sprint_idx ON tasks (sprint_id) WHERE sprint_id IS NOT NULL`.execute(db);

  await sql`
    CREATE TABLE task_dependencies (
      task_id uuid NOT NULL REFERENCES tasks (id),
      depends_on_task_id uuid NOT NULL REFERENCES tasks (id),
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (task_id, depends_on_task_id),
      CONSTRAINT task_dependencies_not_self CHECK (task_id <> depends_on_task_id)
    )
  `.execute(db);
  await sql`CREATE INDEX task_dependencies_reverse_idx ON task_dependencies (depends_on_task_id)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['task_dependencies', 'tasks', 'stories', 'sprints', 'pbis', 'products']) {
    await sql`DROP TABLE ${sql.table(table)}`.execute(db);
  }
}
