-- IAM user and role names are unique whatever their case, as in AWS:
-- creating `Alice` when `alice` exists inserts nothing (EntityAlreadyExists).
-- Triggers rather than unique indexes, so a database that already holds two
-- such names still opens; lookups by name stay exact.
CREATE INDEX users_name_nocase ON users(user_name COLLATE NOCASE);
CREATE INDEX roles_name_nocase ON roles(role_name COLLATE NOCASE);
CREATE TRIGGER users_name_unique_nocase BEFORE INSERT ON users
WHEN EXISTS (SELECT 1 FROM users WHERE user_name = NEW.user_name COLLATE NOCASE)
BEGIN
    SELECT RAISE(IGNORE);
END;
CREATE TRIGGER roles_name_unique_nocase BEFORE INSERT ON roles
WHEN EXISTS (SELECT 1 FROM roles WHERE role_name = NEW.role_name COLLATE NOCASE)
BEGIN
    SELECT RAISE(IGNORE);
END;
