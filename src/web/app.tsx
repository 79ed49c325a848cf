/**
 * The dashboard's frame: it reads the session (or shows the sign-in page), draws the navigation,
 * and picks the page for the path.
 */
import { type ReactNode, useCallback, useEffect, useState } from 'react';
import { ApiError, get, onUnauthorized, post, setCsrf } from './api/client.js';
import type { Session } from './api/types.js';
import { Layout } from './components/layout.js';
import { LoginPage } from './pages/login-page.js';
import { ServicesPage } from './pages/services-page.js';
import { ReleasePage } from './pages/release-page.js';
import { HistoryPage } from './pages/history-page.js';
import { AuditPage } from './pages/audit-page.js';
import { PeoplePage } from './pages/people-page.js';
import { AccountPage } from './pages/account-page.js';
import { IncidentsPage } from './pages/incidents-page.js';
import { IncidentPage } from './pages/incident-page.js';
import { OnCallPage } from './pages/oncall-page.js';
import { NotificationsPage } from './pages/notifications-page.js';
import { CatalogPage } from './pages/catalog-page.js';
import { MaintenancePage } from './pages/maintenance-page.js';
import { BaselinesPage } from './pages/baselines-page.js';
import { StatusAdminPage } from './pages/status-admin-page.js';
import { match, navigate, useLocation } from './router.js';
import { SessionContext, type SessionState } from './session.js';

/** The page for a path; null when no page has it. */
function pageFor(path: string): ReactNode {
  if (path === '/' || path === '/services') return <ServicesPage />;
  const release = match('/releases/:id', path);
  if (release) return <ReleasePage id={Number(release.id)} />;
  if (path === '/history') return <HistoryPage />;
  if (path === '/audit') return <AuditPage />;
  if (path === '/people') return <PeoplePage />;
  if (path === '/account') return <AccountPage />;
  if (path === '/incidents') return <IncidentsPage />;
  const incident = match('/incidents/:id', path);
  if (incident) return <IncidentPage id={Number(incident.id)} />;
  if (path === '/oncall') return <OnCallPage />;
  if (path === '/notifications') return <NotificationsPage />;
  if (path === '/catalog') return <CatalogPage />;
  if (path === '/maintenance') return <MaintenancePage />;
  if (path === '/status-page') return <StatusAdminPage />;
  const baselines = match('/services/:service/baselines', path);
  if (baselines)
    return (
      <BaselinesPage
        service={baselines.service!}
        environment={new URLSearchParams(window.location.search).get('environment')}
      />
    );
  return null;
}

/** The whole dashboard. */
export function App() {
  const { path } = useLocation();
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [problem, setProblem] = useState<string | null>(null);

  const refresh = useCallback(async (): Promise<void> => {
    try {
      const current = await get<Session>('/api/v1/session');
      setCsrf(current.csrf);
      setSession(current);
      setProblem(null);
    } catch (err) {
      setCsrf(null);
      setSession(null);
      if (!(err instanceof ApiError) || err.status !== 401)
        setProblem(err instanceof Error ? err.message : String(err));
    }
  }, []);

  useEffect(() => {
    void refresh();
  }, [refresh]);
  useEffect(
    () =>
      onUnauthorized(() => {
        setCsrf(null);
        setSession(null);
      }),
    [],
  );

  const logout = useCallback(async (): Promise<void> => {
    try {
      await post('/api/v1/logout');
    } finally {
      setCsrf(null);
      setSession(null);
      navigate('/login');
    }
  }, []);

  if (session === undefined) return <p className="loading">Loading…</p>;
  if (session === null)
    return (
      <LoginPage
        problem={problem}
        onSignedIn={async () => {
          await refresh();
          if (window.location.pathname === '/login') navigate('/', { replace: true });
        }}
      />
    );
  const state: SessionState = { session, refresh, logout };
  const page = pageFor(path === '/login' ? '/' : path);
  return (
    <SessionContext.Provider value={state}>
      <Layout>{page ?? <NotFound path={path} />}</Layout>
    </SessionContext.Provider>
  );
}

function NotFound({ path }: { path: string }) {
  return (
    <section>
      <h1>Not found</h1>
      <p>No page has the address {path}.</p>
    </section>
  );
}
