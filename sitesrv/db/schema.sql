-- sitesrv site database: the SMS 2003 tables a primary site keeps, with SMS's table and column
-- names, so SQL from the field reports runs verbatim (docs/database.md explains every column).
--
-- Conventions, chosen once for every table:
-- * Every TEXT column is COLLATE NOCASE, because SQL Server's default collation compares strings
--   case-insensitively and users' SQL relies on it (WHERE ID = 'zzz00148').
-- * Times are TEXT in UTC, 'YYYY-MM-DD HH:MM:SS.mmm' (SQL Server's ODBC canonical form); they
--   sort as text and SQLite's date functions read them.
-- * Every statement is idempotent (IF NOT EXISTS): creating on an existing database keeps data.
-- SiteDatabase.create() runs this file in one transaction and then sets PRAGMA user_version.

-- One row per site of the hierarchy this site knows about (SMS_Site). Type: 1 SECONDARY,
-- 2 PRIMARY. ReportingSite is the parent site code ('' for the central site), as SMS_Site's
-- ReportingSiteCode.
CREATE TABLE IF NOT EXISTS Sites (
    SiteCode      TEXT COLLATE NOCASE NOT NULL PRIMARY KEY,
    SiteName      TEXT COLLATE NOCASE NOT NULL DEFAULT '',
    ReportingSite TEXT COLLATE NOCASE NOT NULL DEFAULT '',
    SiteServer    TEXT COLLATE NOCASE NOT NULL,
    Type          INTEGER NOT NULL CHECK (Type IN (1, 2)),
    InstallDir    TEXT COLLATE NOCASE NOT NULL DEFAULT ''
);

-- One row per package this site knows (its own and replicated ones). UpdateMask: what an UPDATE
-- action asks for, 32 = refresh the source (RefreshPkgSource, "update distribution points").
-- StoredPkgSource (sitesrv's own): the source folder this site's compressed copy was made from.
CREATE TABLE IF NOT EXISTS SMSPackages (
    PkgID            TEXT COLLATE NOCASE NOT NULL PRIMARY KEY,
    Name             TEXT COLLATE NOCASE NOT NULL DEFAULT '',
    Source           TEXT COLLATE NOCASE NOT NULL DEFAULT '',
    SourceSite       TEXT COLLATE NOCASE NOT NULL,
    StoredPkgPath    TEXT COLLATE NOCASE NOT NULL DEFAULT '',
    StoredPkgVersion INTEGER NOT NULL DEFAULT 0,
    SourceVersion    INTEGER NOT NULL DEFAULT 0,
    SourceDate       TEXT COLLATE NOCASE,
    SourceSize       INTEGER NOT NULL DEFAULT 0,
    SourceCompSize   INTEGER NOT NULL DEFAULT 0,
    LastRefresh      TEXT COLLATE NOCASE,
    ShareName        TEXT COLLATE NOCASE NOT NULL DEFAULT '',
    ShareType        INTEGER NOT NULL DEFAULT 1 CHECK (ShareType IN (1, 2)),
    PkgFlags         INTEGER NOT NULL DEFAULT 0,
    Priority         INTEGER NOT NULL DEFAULT 2 CHECK (Priority IN (1, 2, 3)),
    PreferredAddress TEXT COLLATE NOCASE NOT NULL DEFAULT '',
    IgnoreSchedule   INTEGER NOT NULL DEFAULT 0 CHECK (IgnoreSchedule IN (0, 1)),
    StorePkgFlag     INTEGER NOT NULL DEFAULT 2 CHECK (StorePkgFlag BETWEEN 1 AND 4),
    Action           INTEGER NOT NULL DEFAULT 0 CHECK (Action BETWEEN 0 AND 3),
    UpdateMask       INTEGER NOT NULL DEFAULT 0,
    StoredPkgSource  TEXT COLLATE NOCASE NOT NULL DEFAULT ''
);

-- One row per (package, distribution point). Action: 0 NONE, 1 UPDATE, 2 ADD, 3 DELETE.
-- LastRefresh of a new row defaults to SMS's '04/10/1970 06:35:00'.
CREATE TABLE IF NOT EXISTS PkgServers (
    PkgID          TEXT COLLATE NOCASE NOT NULL,
    NALPath        TEXT COLLATE NOCASE NOT NULL,
    SiteCode       TEXT COLLATE NOCASE NOT NULL,
    SiteName       TEXT COLLATE NOCASE NOT NULL DEFAULT '',
    SourceSite     TEXT COLLATE NOCASE NOT NULL DEFAULT '',
    LastRefresh    TEXT COLLATE NOCASE NOT NULL DEFAULT '1970-04-10 06:35:00.000',
    RefreshTrigger INTEGER NOT NULL DEFAULT 0 CHECK (RefreshTrigger IN (0, 1)),
    UpdateMask     INTEGER NOT NULL DEFAULT 0,
    Action         INTEGER NOT NULL DEFAULT 0 CHECK (Action BETWEEN 0 AND 3),
    PRIMARY KEY (PkgID, NALPath)
);

-- SMS reports an orphan row with "SQL Msg #99901> This SiteCode (SEC) does not exist in the parent
-- table, Sites." (Q319189) and the same for PkgID / SMSPackages (Q235774). These triggers are the
-- parent-table checks; they hold for every connection, including a plain sqlite3 shell. SQLite's
-- RAISE() takes only a literal, so the value is missing here; SiteDatabase helpers add it.
CREATE TRIGGER IF NOT EXISTS PkgServers_parent_insert
BEFORE INSERT ON PkgServers
BEGIN
    SELECT RAISE(ABORT, 'This PkgID does not exist in the parent table, SMSPackages.')
    WHERE NOT EXISTS (SELECT 1 FROM SMSPackages WHERE PkgID = NEW.PkgID);
    SELECT RAISE(ABORT, 'This SiteCode does not exist in the parent table, Sites.')
    WHERE NOT EXISTS (SELECT 1 FROM Sites WHERE SiteCode = NEW.SiteCode);
END;

CREATE TRIGGER IF NOT EXISTS PkgServers_parent_update
BEFORE UPDATE OF PkgID, SiteCode ON PkgServers
BEGIN
    SELECT RAISE(ABORT, 'This PkgID does not exist in the parent table, SMSPackages.')
    WHERE NOT EXISTS (SELECT 1 FROM SMSPackages WHERE PkgID = NEW.PkgID);
    SELECT RAISE(ABORT, 'This SiteCode does not exist in the parent table, Sites.')
    WHERE NOT EXISTS (SELECT 1 FROM Sites WHERE SiteCode = NEW.SiteCode);
END;

-- Package status per site (Type 1 MASTER: PkgServer = the site server's name) and per DP
-- (Type 2 COPY: PkgServer = the DP's NAL path). Status: 0 NONE, 1 SENT, 2 RECEIVED,
-- 3 INSTALLED, 4 RETRY, 5 FAILED, 6 REMOVED, 7 PENDING_REMOVE. Personality: 0 NONE, 1 MAC, 2 FPNW.
CREATE TABLE IF NOT EXISTS PkgStatus (
    ID            TEXT COLLATE NOCASE NOT NULL,
    Type          INTEGER NOT NULL CHECK (Type IN (1, 2)),
    SiteCode      TEXT COLLATE NOCASE NOT NULL,
    PkgServer     TEXT COLLATE NOCASE NOT NULL,
    Status        INTEGER NOT NULL DEFAULT 0 CHECK (Status BETWEEN 0 AND 7),
    UpdateTime    TEXT COLLATE NOCASE NOT NULL
                  DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    Location      TEXT COLLATE NOCASE NOT NULL DEFAULT '',
    ShareName     TEXT COLLATE NOCASE NOT NULL DEFAULT '',
    SourceVersion INTEGER NOT NULL DEFAULT 0 CHECK (SourceVersion >= 0),
    Personality   INTEGER NOT NULL DEFAULT 0 CHECK (Personality BETWEEN 0 AND 2),
    PRIMARY KEY (ID, Type, SiteCode, PkgServer)
);

-- One row per package action for SQL Monitor to turn into distmgr.box\<PkgID>.PKN.
-- Type is the action (1 UPDATE, 2 ADD, 3 DELETE); TimeKey is when it was queued.
CREATE TABLE IF NOT EXISTS PkgNotification (
    RecordID INTEGER PRIMARY KEY AUTOINCREMENT,
    PkgID    TEXT COLLATE NOCASE NOT NULL,
    Priority INTEGER NOT NULL DEFAULT 2 CHECK (Priority IN (1, 2, 3)),
    Type     INTEGER NOT NULL DEFAULT 1 CHECK (Type BETWEEN 1 AND 3),
    TimeKey  TEXT COLLATE NOCASE NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
);

-- Status messages, one column per field of the STATMSG echo line (docs/sources.md#deepmicrosoft):
-- ID= MessageID, SEV= Severity (I/W/E), LEV= Level, SOURCE= ModuleName, COMP= Component,
-- SYS= MachineName, SITE= SiteCode, PID= ProcessID, TID= ThreadID, GMTDATE= Time, ISTR0..ISTR9.
CREATE TABLE IF NOT EXISTS StatusMessages (
    RecordID    INTEGER PRIMARY KEY AUTOINCREMENT,
    MessageID   INTEGER NOT NULL,
    Severity    TEXT COLLATE NOCASE NOT NULL CHECK (Severity IN ('I', 'W', 'E')),
    Level       TEXT COLLATE NOCASE NOT NULL DEFAULT 'M',
    ModuleName  TEXT COLLATE NOCASE NOT NULL DEFAULT 'SMS Server',
    Component   TEXT COLLATE NOCASE NOT NULL,
    MachineName TEXT COLLATE NOCASE NOT NULL,
    SiteCode    TEXT COLLATE NOCASE NOT NULL,
    ProcessID   INTEGER NOT NULL DEFAULT 0,
    ThreadID    INTEGER NOT NULL DEFAULT 0,
    Time        TEXT COLLATE NOCASE NOT NULL,
    ISTR0 TEXT COLLATE NOCASE NOT NULL DEFAULT '',
    ISTR1 TEXT COLLATE NOCASE NOT NULL DEFAULT '',
    ISTR2 TEXT COLLATE NOCASE NOT NULL DEFAULT '',
    ISTR3 TEXT COLLATE NOCASE NOT NULL DEFAULT '',
    ISTR4 TEXT COLLATE NOCASE NOT NULL DEFAULT '',
    ISTR5 TEXT COLLATE NOCASE NOT NULL DEFAULT '',
    ISTR6 TEXT COLLATE NOCASE NOT NULL DEFAULT '',
    ISTR7 TEXT COLLATE NOCASE NOT NULL DEFAULT '',
    ISTR8 TEXT COLLATE NOCASE NOT NULL DEFAULT '',
    ISTR9 TEXT COLLATE NOCASE NOT NULL DEFAULT ''
);

-- The AIDn/AVALn pairs of a status message (AID 400 package ID, 404 DP NAL path, 410 version);
-- RecordID is the StatusMessages row.
CREATE TABLE IF NOT EXISTS StatusMessageAttributes (
    RecordID       INTEGER NOT NULL,
    AttributeID    INTEGER NOT NULL,
    AttributeValue TEXT COLLATE NOCASE NOT NULL,
    PRIMARY KEY (RecordID, AttributeID)
);

-- sitesrv's own bookkeeping (not an SMS table): the last package number handed out per site
-- code, so package IDs continue in sequence after a restart.
CREATE TABLE IF NOT EXISTS PackageIDCounters (
    SiteCode   TEXT COLLATE NOCASE NOT NULL PRIMARY KEY,
    LastNumber INTEGER NOT NULL CHECK (LastNumber BETWEEN 0 AND 1048575)
);

-- Collections, in a minimal model: no members or rules, only how many clients a collection
-- has, which decides whether Offer Manager writes client instruction files for it (SMS 2.0
-- flowcharts, docs/sources.md#flowcharts). Columns are SMS_Collection's (CollectionID,
-- Name) and MemberCount; SourceSite is the site whose console made it.
CREATE TABLE IF NOT EXISTS Collections (
    CollectionID TEXT COLLATE NOCASE NOT NULL PRIMARY KEY,
    Name         TEXT COLLATE NOCASE NOT NULL DEFAULT '',
    MemberCount  INTEGER NOT NULL DEFAULT 0 CHECK (MemberCount >= 0),
    SourceSite   TEXT COLLATE NOCASE NOT NULL DEFAULT ''
);

-- One row per advertisement this site knows (its own and replicated ones), with SMS_Advertisement's
-- property names: a program of a package offered to a collection from PresentTime on.
CREATE TABLE IF NOT EXISTS Advertisements (
    AdvertisementID   TEXT COLLATE NOCASE NOT NULL PRIMARY KEY,
    AdvertisementName TEXT COLLATE NOCASE NOT NULL DEFAULT '',
    PackageID         TEXT COLLATE NOCASE NOT NULL,
    ProgramName       TEXT COLLATE NOCASE NOT NULL,
    CollectionID      TEXT COLLATE NOCASE NOT NULL,
    SourceSite        TEXT COLLATE NOCASE NOT NULL,
    PresentTime       TEXT COLLATE NOCASE NOT NULL
);

-- Deleting a package deletes its advertisements: at a primary SMS does it with SQL triggers
-- (Q257318), so a person's DELETE FROM SMSPackages does it too.
CREATE TRIGGER IF NOT EXISTS SMSPackages_delete_advertisements
AFTER DELETE ON SMSPackages
BEGIN
    DELETE FROM Advertisements WHERE PackageID = OLD.PkgID;
END;

-- One row per advertisement change for SQL Monitor to turn into offermgr.box\<OfferID>.OFN, as
-- PkgNotification is for packages. Type: 1 UPDATE, 2 ADD, 3 DELETE.
CREATE TABLE IF NOT EXISTS OfferNotification (
    RecordID INTEGER PRIMARY KEY AUTOINCREMENT,
    OfferID  TEXT COLLATE NOCASE NOT NULL,
    Type     INTEGER NOT NULL DEFAULT 1 CHECK (Type BETWEEN 1 AND 3),
    TimeKey  TEXT COLLATE NOCASE NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
);

-- sitesrv's own bookkeeping (not an SMS table): the last number handed out per kind of object
-- ('Advertisement', 'Collection') and site code.
CREATE TABLE IF NOT EXISTS ObjectIDCounters (
    Kind       TEXT COLLATE NOCASE NOT NULL,
    SiteCode   TEXT COLLATE NOCASE NOT NULL,
    LastNumber INTEGER NOT NULL CHECK (LastNumber BETWEEN 0 AND 1048575),
    PRIMARY KEY (Kind, SiteCode)
);

-- SMS_PackageStatusDistPointsSummarizer: one row per package/DP from the Type 2 PkgStatus rows.
-- State: Status 3 -> 0 INSTALLED, unless the DP has an older version than the package's
-- SourceVersion at this site (a newer one is on its way: 1 INSTALL_PENDING until the DP's site
-- reports it installed); a site above the package's source site has no SMSPackages row for it,
-- and takes its version from the source site's own Type 1 row (its site code is the PkgID's
-- first three characters), which travels up with each new version; 0/1/2 -> 1
-- INSTALL_PENDING; 4 -> 2 INSTALL_RETRYING; 5 -> 3
-- INSTALL_FAILED; 7 -> 4 REMOVAL_PENDING; 6 (REMOVED) -> no row. Dropped and made again on every
-- upgrade of the schema, so a lab's view is always this one.
DROP VIEW IF EXISTS SMS_PackageStatusDistPointsSummarizer;
CREATE VIEW SMS_PackageStatusDistPointsSummarizer AS
SELECT
    s.ID            AS PackageID,
    s.PkgServer     AS ServerNALPath,
    s.SiteCode      AS SiteCode,
    CASE WHEN site.SiteServer IS NULL THEN NULL
         ELSE 'MSWNET:["SMS_SITE=' || site.SiteCode || '"]\\' || site.SiteServer || '\'
    END             AS SourceNALPath,
    s.SourceVersion AS SourceVersion,
    CASE
        WHEN s.Status = 3 AND s.SourceVersion < COALESCE(
            p.SourceVersion,
            (SELECT MAX(m.SourceVersion) FROM PkgStatus AS m
             WHERE m.ID = s.ID AND m.Type = 1 AND m.SiteCode = substr(s.ID, 1, 3)),
            0) THEN 1
        WHEN s.Status = 3 THEN 0
        WHEN s.Status IN (0, 1, 2) THEN 1
        WHEN s.Status = 4 THEN 2
        WHEN s.Status = 5 THEN 3
        WHEN s.Status = 7 THEN 4
    END             AS State,
    s.UpdateTime    AS SummaryDate,
    CASE WHEN s.Status = 3 THEN s.UpdateTime END AS LastCopied
FROM PkgStatus AS s
LEFT JOIN Sites AS site ON site.SiteCode = s.SiteCode
LEFT JOIN SMSPackages AS p ON p.PkgID = s.ID
WHERE s.Type = 2 AND s.Status <> 6;
