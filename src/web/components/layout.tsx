/**
 * The frame around every page: a skip link, the navigation, who is signed in, the theme, and the
 * warning about notifications that failed or channels that are disabled.
 */
import { type ReactNode, useEffect, useState } from 'react';
import { Link, useLocation } from '../router.js';
import { mayDoEverywhere, useSession } from '../session.js';
import { NotificationBanner } from './notification-banner.js';

type Theme = 'system' | 'light' | 'dark';
const THEME_KEY = 'shipcheck.theme';

function useTheme(): [Theme, (theme: Theme) => void] {
  const [theme, setTheme] = useState<Theme>(() => (localStorage.getItem(THEME_KEY) as Theme) ?? 'system');
  useEffect(() => {
    if (theme === 'system') delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = theme;
    localStorage.setItem(THEME_KEY, theme);
  }, [theme]);
  return [theme, setTheme];
}

/** The page frame. */
export function Layout({ children }: { children: ReactNode }) {
  const { session, logout } = useSession();
  const { path } = useLocation();
  const [theme, setTheme] = useTheme();
  const admin = mayDoEverywhere(session.user.roles, 'admin');
  const links: { to: string; label: string; active: boolean }[] = [
    { to: '/', label: 'Services', active: path === '/' || path === '/services' },
    { to: '/history', label: 'History', active: path === '/history' || path.startsWith('/releases/') },
    { to: '/incidents', label: 'Incidents', active: path === '/incidents' || path.startsWith('/incidents/') },
    { to: '/status-page', label: 'Status page', active: path === '/status-page' },
    { to: '/oncall', label: 'On call', active: path === '/oncall' },
    { to: '/notifications', label: 'Notifications', active: path === '/notifications' },
    { to: '/catalog', label: 'Catalog', active: path === '/catalog' },
    { to: '/maintenance', label: 'Maintenance', active: path === '/maintenance' },
    ...(admin
      ? [
          { to: '/audit', label: 'Audit log', active: path === '/audit' },
          { to: '/people', label: 'People', active: path === '/people' },
        ]
      : []),
    { to: '/account', label: 'Account', active: path === '/account' },
  ];
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link to="/" className="brand">
          shipcheck
        </Link>
        <nav aria-label="Main">
          <ul>
            {links.map((link) => (
              <li key={link.to}>
                <Link to={link.to} aria-current={link.active ? 'page' : undefined}>
                  {link.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div className="topbar-end">
          <label className="theme-select">
            <span className="visually-hidden">Theme</span>
            <select value={theme} onChange={(e) => setTheme(e.target.value as Theme)}>
              <option value="system">System theme</option>
              <option value="light">Light</option>
              <option value="dark">Dark</option>
            </select>
          </label>
          <span className="whoami" title={session.user.roles.join(', ')}>
            {session.user.name}
          </span>
          <button type="button" onClick={() => void logout()}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {session.user.roles.length > 0 && <NotificationBanner path={path} />}
        {children}
      </main>
    </>
  );
}
