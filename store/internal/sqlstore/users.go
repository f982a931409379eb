package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/securecam/securecam/store"
)

const userCols = `id, email, COALESCE(name, ''), COALESCE(password_hash, ''),
	COALESCE(email_verified, false), image, created_at, updated_at`

func scanUser(r Row) (store.User, error) {
	var u store.User
	err := r.Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &u.EmailVerified, &u.Image,
		timeDst{&u.CreatedAt}, timeDst{&u.UpdatedAt})
	return u, err
}

// CreateUser implements store.Store.
func (s *Store) CreateUser(ctx context.Context, u *store.User) error {
	const op = "create user"
	id, err := newID(u.ID)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	accountID, err := newID("")
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	nu := *u
	nu.ID = id
	nu.Email = strings.ToLower(u.Email)
	nu.CreatedAt = created(u.CreatedAt)
	nu.UpdatedAt = nu.CreatedAt
	err = s.db.InTx(ctx, func(q Querier) error {
		if _, err := q.Exec(ctx, `INSERT INTO users
			(id, email, name, password_hash, email_verified, image, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`,
			nu.ID, nu.Email, nu.Name, nu.PasswordHash, nu.EmailVerified, nu.Image, s.t(nu.CreatedAt)); err != nil {
			return err
		}
		_, err := q.Exec(ctx, `INSERT INTO account
			(id, user_id, account_id, provider_id, password, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $6)`,
			accountID, nu.ID, nu.ID, store.ProviderCredential, nu.PasswordHash, s.t(nu.CreatedAt))
		return err
	})
	if err != nil {
		return s.mapErr(op, err)
	}
	*u = nu
	return nil
}

// UserByID implements store.Store.
func (s *Store) UserByID(ctx context.Context, id string) (store.User, error) {
	const op = "user by id"
	id, ok := canonID(id)
	if !ok {
		return store.User{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, id))
	return u, s.mapErr(op, err)
}

// UserByEmail implements store.Store.
func (s *Store) UserByEmail(ctx context.Context, email string) (store.User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE lower(email) = $1`,
		strings.ToLower(email)))
	return u, s.mapErr("user by email", err)
}

// CredentialPassword implements store.Store.
func (s *Store) CredentialPassword(ctx context.Context, userID string) (string, error) {
	const op = "credential password"
	userID, ok := canonID(userID)
	if !ok {
		return "", fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	var pw *string
	err := s.db.QueryRow(ctx, `SELECT password FROM account
		WHERE user_id = $1 AND provider_id = $2 AND password IS NOT NULL
		ORDER BY created_at LIMIT 1`, userID, store.ProviderCredential).Scan(&pw)
	if err != nil {
		return "", s.mapErr(op, err)
	}
	return *pw, nil
}

// SetPassword implements store.Store. A user without a credential account (one who
// signed up with another provider in the original backend) gets one. The user's reset
// tokens go in the same transaction, so no token issued before the change works after.
func (s *Store) SetPassword(ctx context.Context, userID, hash string) error {
	const op = "set password"
	userID, ok := canonID(userID)
	if !ok {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	accountID, err := newID("")
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	at := s.t(now())
	err = s.db.InTx(ctx, func(q Querier) error {
		n, err := q.Exec(ctx, `UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1`,
			userID, hash, at)
		if err != nil {
			return err
		}
		if n == 0 {
			return store.ErrNotFound
		}
		if _, err := q.Exec(ctx, `DELETE FROM verification WHERE identifier = $1
			OR (identifier LIKE $2 AND value = $3)`,
			store.VerificationPasswordReset+":"+userID, store.BetterAuthPasswordReset+":%", userID); err != nil {
			return err
		}
		n, err = q.Exec(ctx, `UPDATE account SET password = $3, updated_at = $4
			WHERE user_id = $1 AND provider_id = $2`, userID, store.ProviderCredential, hash, at)
		if err != nil || n > 0 {
			return err
		}
		_, err = q.Exec(ctx, `INSERT INTO account
			(id, user_id, account_id, provider_id, password, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $6)`,
			accountID, userID, userID, store.ProviderCredential, hash, at)
		return err
	})
	return s.mapErr(op, err)
}

// SetEmailVerified implements store.Store.
func (s *Store) SetEmailVerified(ctx context.Context, userID string) error {
	const op = "set email verified"
	userID, ok := canonID(userID)
	if !ok {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	n, err := s.db.Write().Exec(ctx, `UPDATE users SET email_verified = true, updated_at = $2 WHERE id = $1`,
		userID, s.t(now()))
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	return s.mapErr(op, err)
}

// UpdateUser implements store.Store.
func (s *Store) UpdateUser(ctx context.Context, id string, u store.UserUpdate) (store.User, error) {
	const op = "update user"
	id, ok := canonID(id)
	if !ok {
		return store.User{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	set := []string{"updated_at = $2"}
	args := []any{id, s.t(now())}
	if u.Name != nil {
		args = append(args, *u.Name)
		set = append(set, fmt.Sprintf("name = $%d", len(args)))
	}
	if u.Image != nil {
		var img any
		if *u.Image != "" {
			img = *u.Image
		}
		args = append(args, img)
		set = append(set, fmt.Sprintf("image = $%d", len(args)))
	}
	got, err := scanUser(s.db.Write().QueryRow(ctx, `UPDATE users SET `+strings.Join(set, ", ")+
		` WHERE id = $1 RETURNING `+userCols, args...))
	return got, s.mapErr(op, err)
}

const sessionCols = `id, token, user_id, expires_at, COALESCE(ip_address, ''), COALESCE(user_agent, ''),
	created_at, updated_at`

func scanSession(r Row) (store.Session, error) {
	var x store.Session
	err := r.Scan(&x.ID, &x.TokenHash, &x.UserID, timeDst{&x.ExpiresAt}, &x.IPAddress, &x.UserAgent,
		timeDst{&x.CreatedAt}, timeDst{&x.UpdatedAt})
	return x, err
}

// CreateSession implements store.Store.
func (s *Store) CreateSession(ctx context.Context, x *store.Session) error {
	const op = "create session"
	id, err := newID(x.ID)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	userID, ok := canonID(x.UserID)
	if !ok {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	n := *x
	n.ID, n.UserID = id, userID
	n.ExpiresAt = stamp(x.ExpiresAt)
	n.CreatedAt = created(x.CreatedAt)
	n.UpdatedAt = n.CreatedAt
	_, err = s.db.Write().Exec(ctx, `INSERT INTO session
		(id, token, user_id, expires_at, ip_address, user_agent, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`,
		n.ID, n.TokenHash, n.UserID, s.t(n.ExpiresAt), n.IPAddress, n.UserAgent, s.t(n.CreatedAt))
	if err != nil {
		return s.mapErr(op, err)
	}
	*x = n
	return nil
}

// SessionByTokenHash implements store.Store.
func (s *Store) SessionByTokenHash(ctx context.Context, tokenHash string) (store.Session, error) {
	x, err := scanSession(s.db.QueryRow(ctx, `SELECT `+sessionCols+` FROM session WHERE token = $1`, tokenHash))
	return x, s.mapErr("session by token hash", err)
}

// SessionByID implements store.Store.
func (s *Store) SessionByID(ctx context.Context, id string) (store.Session, error) {
	const op = "session by id"
	id, ok := canonID(id)
	if !ok {
		return store.Session{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	x, err := scanSession(s.db.QueryRow(ctx, `SELECT `+sessionCols+` FROM session WHERE id = $1`, id))
	return x, s.mapErr(op, err)
}

// ListUserSessions implements store.Store.
func (s *Store) ListUserSessions(ctx context.Context, userID string) ([]store.Session, error) {
	userID, ok := canonID(userID)
	if !ok {
		return nil, nil
	}
	xs, err := collect(ctx, s.db, `SELECT `+sessionCols+` FROM session WHERE user_id = $1
		ORDER BY created_at DESC, id DESC`, []any{userID}, scanSession)
	return xs, s.mapErr("list user sessions", err)
}

// hashedTokenLen is the length of a token hash (hex SHA-256); raw tokens are shorter.
const hashedTokenLen = 64

// HashRawSessionTokens implements store.Store. Each row is rewritten only if its token
// is still the raw one read, so replicas doing this at once, or a session deleted
// meanwhile, change nothing twice.
func (s *Store) HashRawSessionTokens(ctx context.Context, hash func(token string) string) (int, error) {
	const op = "hash raw session tokens"
	type row struct{ id, token string }
	raw, err := collect(ctx, s.db, `SELECT id, token FROM session WHERE length(token) <> $1`,
		[]any{hashedTokenLen}, func(r Row) (row, error) {
			var x row
			return x, r.Scan(&x.id, &x.token)
		})
	if err != nil {
		return 0, s.mapErr(op, err)
	}
	n := 0
	err = s.db.InTx(ctx, func(q Querier) error {
		for _, x := range raw {
			c, err := q.Exec(ctx, `UPDATE session SET token = $3 WHERE id = $1 AND token = $2`,
				x.id, x.token, hash(x.token))
			if err != nil {
				return err
			}
			n += int(c)
		}
		return nil
	})
	if err != nil {
		return 0, s.mapErr(op, err)
	}
	return n, nil
}

// ExtendSession implements store.Store.
func (s *Store) ExtendSession(ctx context.Context, id string, expiresAt time.Time) error {
	const op = "extend session"
	id, ok := canonID(id)
	if !ok {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	n, err := s.db.Write().Exec(ctx, `UPDATE session SET expires_at = $2, updated_at = $3 WHERE id = $1`,
		id, s.t(stamp(expiresAt)), s.t(now()))
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	return s.mapErr(op, err)
}

// DeleteSession implements store.Store.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	const op = "delete session"
	id, ok := canonID(id)
	if !ok {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	n, err := s.db.Write().Exec(ctx, `DELETE FROM session WHERE id = $1`, id)
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	return s.mapErr(op, err)
}

// DeleteUserSessions implements store.Store.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) error {
	userID, ok := canonID(userID)
	if !ok {
		return nil
	}
	_, err := s.db.Write().Exec(ctx, `DELETE FROM session WHERE user_id = $1`, userID)
	return s.mapErr("delete user sessions", err)
}

const verificationCols = `id, identifier, value, expires_at, created_at, updated_at`

func scanVerification(r Row) (store.Verification, error) {
	var v store.Verification
	err := r.Scan(&v.ID, &v.Identifier, &v.ValueHash, timeDst{&v.ExpiresAt},
		timeDst{&v.CreatedAt}, timeDst{&v.UpdatedAt})
	return v, err
}

// CreateVerification implements store.Store.
func (s *Store) CreateVerification(ctx context.Context, v *store.Verification) error {
	const op = "create verification"
	id, err := newID(v.ID)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	n := *v
	n.ID = id
	n.ExpiresAt = stamp(v.ExpiresAt)
	n.CreatedAt = created(v.CreatedAt)
	n.UpdatedAt = n.CreatedAt
	_, err = s.db.Write().Exec(ctx, `INSERT INTO verification
		(id, identifier, value, expires_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)`,
		n.ID, n.Identifier, n.ValueHash, s.t(n.ExpiresAt), s.t(n.CreatedAt))
	if err != nil {
		return s.mapErr(op, err)
	}
	*v = n
	return nil
}

// ListVerifications implements store.Store.
func (s *Store) ListVerifications(ctx context.Context, identifier string, at time.Time) ([]store.Verification, error) {
	vs, err := collect(ctx, s.db, `SELECT `+verificationCols+` FROM verification
		WHERE identifier = $1 AND expires_at > $2 ORDER BY created_at DESC`,
		[]any{identifier, s.t(at)}, scanVerification)
	return vs, s.mapErr("list verifications", err)
}

// ConsumeVerification implements store.Store. One statement deletes the row, so two
// concurrent consumers of the same token cannot both succeed.
func (s *Store) ConsumeVerification(ctx context.Context, identifier, valueHash string, at time.Time) (store.Verification, error) {
	v, err := scanVerification(s.db.Write().QueryRow(ctx, `DELETE FROM verification WHERE id = (
			SELECT id FROM verification WHERE identifier = $1 AND value = $2 AND expires_at > $3 LIMIT 1)
		RETURNING `+verificationCols, identifier, valueHash, s.t(at)))
	return v, s.mapErr("consume verification", err)
}
