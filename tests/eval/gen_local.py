"""Writes local-accounts.jsonl and local-domains.jsonl (issue 20: local organisations that carry
the place name, and the lookalike classes the first eval sets missed). Every row is written
here by hand; only the whole-script homographs are spelled by the table below. Splits are fixed
by position when the rows were written, before the detector was run on them: within each
(council, class) list the 3rd, 6th, 9th... row is `test`, the others alternate `tune`, `dev`.
Run: python3 gen_local.py (no dependencies)."""
import json, os

HERE = os.path.dirname(os.path.abspath(__file__))

# Cyrillic/Greek/Armenian letters that look like Latin ones (one per Latin letter).
LOOK = {"a": "а", "c": "с", "d": "ԁ", "e": "е", "g": "ɡ", "h": "һ", "i": "і", "j": "ј",
        "k": "κ", "l": "ӏ", "m": "м", "n": "ո", "o": "о", "p": "р", "q": "ԛ", "r": "г",
        "s": "ѕ", "t": "т", "u": "ս", "v": "ν", "w": "ԝ", "x": "х", "y": "у", "b": "Ь"}


def whole_script(label):
    return "".join(LOOK.get(c, c) for c in label)


def split_of(i):
    return "test" if i % 3 == 2 else ("tune" if (i - i // 3) % 2 == 0 else "dev")


# (handle, display name, platform, bio, followers, created YYYY-MM, verified) per class.
# identity None = a real local account that must not be flagged.
A = []  # (council, class, identity-or-None, rows)
D = []  # (council, class, protected-or-None, domains)

C = {
 "swindon": ("Swindon Borough Council", "swindon.gov.uk"),
 "reading": ("Reading Borough Council", "reading.gov.uk"),
 "derby": ("Derby City Council", "derby.gov.uk"),
 "norwich": ("Norwich City Council", "norwich.gov.uk"),
 "stockport": ("Stockport Council", "stockport.gov.uk"),
 "kirklees": ("Kirklees Council", "kirklees.gov.uk"),
}

# ---------------------------------------------------------------- accounts: local, not fakes
A += [
("swindon", "local", None, [
 ("@swindonadvert", "Swindon Advertiser", "x", "News, sport and what's on in Swindon and Wiltshire. Tips: newsdesk@swindonadvertiser.co.uk", 61200, "2009-03", True),
 ("@Official_STFC", "Swindon Town FC", "x", "The official account of Swindon Town Football Club. #STFC", 98400, "2010-01", True),
 ("@SwindonLink", "Swindon Link", "x", "Swindon's community magazine, delivered free to 40,000 homes", 5400, "2011-07", False),
 ("@swindon1055", "Swindon 105.5", "x", "Swindon's community radio station. Made by local people for local people.", 7800, "2009-11", False),
 ("@swindonwildcats", "Swindon Wildcats", "x", "Official account of the Swindon Wildcats ice hockey club", 15100, "2010-08", False),
 ("@SwindonCC", "Swindon Cricket Club", "x", "Swindon Cricket Club, County Ground. Five Saturday XIs, juniors and women's cricket.", 1900, "2012-04", False),
 ("@VisitSwindon", "Visit Swindon", "x", "Things to see and do in Swindon", 3300, "2013-02", False),
 ("@swindonfoodbank", "Swindon Foodbank", "x", "Helping people in crisis across Swindon. Registered charity.", 4700, "2012-09", False),
 ("@ChristChurchSwin", "Christ Church Swindon", "x", "Parish church of Christ Church, Old Town, Swindon", 900, "2014-05", False),
 ("@OldTownSwindonRA", "Old Town Residents' Association", "x", "Residents of Old Town, Swindon. Planning, parking and parks.", 410, "2016-10", False),
 ("@SwindonDesignerOutlet", "Swindon Designer Outlet", "x", "Shopping in the historic GWR railway works", 12800, "2010-06", False),
 ("@wiltshirecouncil", "Wiltshire Council", "x", "Official account of Wiltshire Council. Monitored 9am-5pm weekdays.", 51000, "2009-07", True),
 ("@swindonrugby", "Swindon RFC", "x", "Swindon Rugby Football Club, Greenbridge Road", 1200, "2011-01", False),
 ("@Swindon_Ramblers", "Swindon Ramblers", "x", "Walking group for Swindon and north Wiltshire", 350, "2015-03", False),
 ("@SwindonElectionWatch", "Swindon Election Watch", "x", "Independent blog on Swindon politics. Not affiliated with any party or the council.", 620, "2018-02", False),
]),
("reading", "local", None, [
 ("@ReadingFC", "Reading FC", "x", "The official account of Reading Football Club", 412000, "2009-04", True),
 ("@RdgChronicle", "Reading Chronicle", "x", "Reading's oldest newspaper. News from Reading, Berkshire.", 14200, "2010-02", False),
 ("@rdg_today", "Reading Today", "x", "Independent news for Reading and Wokingham", 3900, "2019-09", False),
 ("@BBCBerkshire", "BBC Radio Berkshire", "x", "Radio station for Berkshire, 104.1FM", 28000, "2009-05", True),
 ("@readingfestival", "Reading Festival", "x", "Reading Festival, Richfield Avenue, every August bank holiday", 950000, "2009-03", True),
 ("@UniofReading", "University of Reading", "x", "Official account of the University of Reading", 62000, "2009-09", True),
 ("@reading_buses", "Reading Buses", "x", "Reading Buses, owned by Reading Borough Council. Travel updates 7am-7pm.", 23000, "2010-05", False),
 ("@ReadingMinster", "Reading Minster of St Mary", "x", "Church of England in the heart of Reading", 700, "2013-11", False),
 ("@wokinghamBC", "Wokingham Borough Council", "x", "Official account of Wokingham Borough Council", 21000, "2010-03", True),
 ("@ReadingCC", "Reading Cricket Club", "x", "Reading CC, Sonning Lane. Thames Valley League.", 1100, "2012-05", False),
 ("@ReadingUK", "REDA / Reading UK", "x", "Reading's economic development agency and BID", 9200, "2010-11", False),
 ("@ReadingReads", "Reading Reads", "x", "Book club that meets at Reading Central Library", 210, "2019-01", False),
 ("@ReadingCivicSoc", "Reading Civic Society", "x", "Working for a better Reading since 1962", 1600, "2013-06", False),
 ("@readinghospital", "Royal Berkshire Hospital", "x", "Royal Berkshire NHS Foundation Trust, Reading", 19000, "2010-09", True),
 ("@readingcouncilwatch", "Reading Council Watch", "x", "Residents keeping an eye on the council's spending. Unofficial.", 380, "2017-08", False),
]),
("derby", "local", None, [
 ("@DerbyTelegraph", "Derby Telegraph", "x", "News, sport and what's on across Derby and Derbyshire", 99000, "2009-02", True),
 ("@dcfcofficial", "Derby County", "x", "Official account of Derby County Football Club #DCFC", 410000, "2009-06", True),
 ("@DerbyshireCC", "Derbyshire County Council", "x", "Official account of Derbyshire County Council", 48000, "2009-10", True),
 ("@DerbyshireCCC", "Derbyshire County Cricket Club", "x", "The official account of Derbyshire CCC. Incora County Ground, Derby.", 41000, "2009-08", True),
 ("@DerbyCathedral", "Derby Cathedral", "x", "The Cathedral of All Saints, Derby", 6100, "2010-12", False),
 ("@visitderby", "Visit Derby", "x", "Things to do in Derby", 15600, "2009-09", False),
 ("@DerbyMuseums", "Derby Museums", "x", "Museum and Art Gallery, Pickford's House and the Museum of Making", 13000, "2010-04", False),
 ("@DerbyTheatre", "Derby Theatre", "x", "Producing theatre in the heart of Derby", 11700, "2010-07", False),
 ("@RamFM", "Ram FM", "x", "Derby's hit music station", 17000, "2009-08", False),
 ("@derbyccfc", "Derby City Council FC", "x", "Sunday league football team of council staff. Not the council!", 140, "2019-03", False),
 ("@DerbyUni", "University of Derby", "x", "Official account of the University of Derby", 41000, "2009-05", True),
 ("@derbyhomes", "Derby Homes", "x", "Managing council homes in Derby on behalf of Derby City Council", 5200, "2011-02", False),
 ("@DerbyCityMission", "Derby City Mission", "x", "Christian charity serving the homeless in Derby", 1300, "2012-11", False),
 ("@DerbyBID", "Derby Cathedral Quarter BID", "x", "Business improvement district, Derby city centre", 4800, "2011-09", False),
 ("@DerbyEarlyNews", "Derby Daily News", "x", "Aggregated news headlines for Derby. Automated.", 260, "2021-05", False),
]),
("norwich", "local", None, [
 ("@NorwichCityFC", "Norwich City FC", "x", "The official account of Norwich City Football Club", 710000, "2009-03", True),
 ("@NorwichCFC", "Norwich City Women", "x", "Norwich City FC's women's team", 19000, "2016-08", False),
 ("@EveningNews", "Norwich Evening News", "x", "News from Norwich and Norfolk", 60000, "2009-01", True),
 ("@EDP24", "Eastern Daily Press", "x", "Norfolk's daily newspaper", 98000, "2009-01", True),
 ("@NorfolkCC", "Norfolk County Council", "x", "Official account of Norfolk County Council", 57000, "2009-06", True),
 ("@NorwichCathedral", "Norwich Cathedral", "x", "Norwich Cathedral, 900 years of worship", 23000, "2010-02", False),
 ("@NorwichBID", "Norwich BID", "x", "Norwich Business Improvement District", 9400, "2012-03", False),
 ("@VisitNorwich", "Visit Norwich", "x", "The official tourism site for the Fine City", 21000, "2009-11", False),
 ("@NorwichTheatre", "Norwich Theatre", "x", "Theatre Royal, Stage Two and Playhouse", 39000, "2009-12", False),
 ("@NorwichCC_Cricket", "Norwich Cricket Club", "x", "Norwich CC, Britannia Barracks. Norfolk Alliance.", 640, "2015-04", False),
 ("@Norwich_Society", "The Norwich Society", "x", "Civic society for Norwich since 1923", 4100, "2011-05", False),
 ("@BBCNorfolk", "BBC Radio Norfolk", "x", "BBC Radio Norfolk 95.1 FM", 52000, "2009-06", True),
 ("@UEA", "University of East Anglia", "x", "Official UEA account, Norwich", 72000, "2009-03", True),
 ("@NorwichCityCouncilUnison", "Norwich City UNISON", "x", "UNISON branch for Norwich City Council staff", 520, "2014-09", False),
 ("@norwichlanes", "Norwich Lanes", "x", "Independent shops of the Norwich Lanes", 8800, "2010-10", False),
]),
("stockport", "local", None, [
 ("@StockportCounty", "Stockport County", "x", "The official account of Stockport County FC", 120000, "2009-05", True),
 ("@StockportNub", "Stockport Nub News", "x", "Independent local news for Stockport", 2100, "2021-02", False),
 ("@stockportexp", "Stockport Express", "x", "Stockport's local newspaper", 11000, "2010-03", False),
 ("@StockportPlaza", "Stockport Plaza", "x", "Art deco super cinema and theatre, Mersey Square", 9500, "2010-08", False),
 ("@StockportHomes", "Stockport Homes", "x", "Managing homes in Stockport", 6000, "2011-06", False),
 ("@StockportCC", "Stockport Cricket Club", "x", "Stockport Cricket Club, est. 1848", 780, "2013-07", False),
 ("@StockportLions", "Stockport Lions Club", "x", "Volunteers serving Stockport", 250, "2014-02", False),
 ("@stockportmarket", "Stockport Market", "x", "Stockport's historic Market Hall and Produce Hall", 7300, "2012-08", False),
 ("@VisitStockport", "Visit Stockport", "x", "What's on in Stockport", 6100, "2011-10", False),
 ("@StockportCollege", "Stockport College", "x", "Further education in Stockport", 8000, "2009-11", False),
 ("@StockportNHS", "Stockport NHS Foundation Trust", "x", "Stepping Hill Hospital and community services", 15000, "2010-01", True),
 ("@StockportRoundTable", "Stockport Round Table", "x", "Fun, fundraising and fellowship in Stockport", 500, "2015-09", False),
 ("@ManchesterCC", "Manchester City Council", "x", "Neighbouring council, not the one configured", 210000, "2009-01", True),
 ("@stockportcouncillor", "Cllr Pat Reid", "x", "Labour councillor for Heatons North, Stockport. Views my own.", 1100, "2018-04", False),
 ("@StockportTrains", "Stockport Rail Users", "x", "Passenger group for Stockport station", 320, "2016-05", False),
]),
("kirklees", "local", None, [
 ("@ExaminerLive", "Huddersfield Examiner", "x", "News for Huddersfield and Kirklees", 70000, "2009-04", True),
 ("@htafcdotcom", "Huddersfield Town", "x", "Official account of Huddersfield Town AFC", 340000, "2009-05", True),
 ("@KirkleesCollege", "Kirklees College", "x", "Further education in Huddersfield and Dewsbury", 9300, "2010-02", False),
 ("@KAL_Leisure", "Kirklees Active Leisure", "x", "Leisure centres across Kirklees", 5600, "2011-08", False),
 ("@KirkleesTheatre", "Kirklees Theatre Trust", "x", "Amateur theatre in the Kirklees area", 300, "2017-01", False),
 ("@KirkleesCitizensAdvice", "Citizens Advice Kirklees", "x", "Free, independent advice across Kirklees", 2700, "2012-07", False),
 ("@CalderdaleCouncil", "Calderdale Council", "x", "Official account of Calderdale Council", 33000, "2009-10", True),
 ("@KirkleesRamblers", "Kirklees Ramblers", "x", "Walking in Kirklees", 200, "2018-09", False),
 ("@DewsburyReporter", "Dewsbury Reporter", "x", "News for Dewsbury, Batley and Spen", 9000, "2010-05", False),
 ("@KirkleesCouncilWatch", "Kirklees Council Watch", "x", "A resident's blog scrutinising council decisions. Not the council.", 740, "2016-12", False),
 ("@kirkleesvoices", "Kirklees Voices", "x", "Podcast about life in Kirklees", 410, "2020-03", False),
 ("@KirkleesMusicSchool", "Kirklees Music School", "x", "Music lessons for young people across Kirklees", 1500, "2013-04", False),
 ("@KirkleesNHS", "Kirklees Health and Care Partnership", "x", "NHS and care partners in Kirklees", 3100, "2015-06", True),
 ("@HuddsUni", "University of Huddersfield", "x", "Official account of the University of Huddersfield", 40000, "2009-09", True),
 ("@kirkleeselects", "Kirklees Elects", "x", "Election night coverage and results by the Examiner's politics team", 900, "2019-04", False),
]),
]

# Mastodon and Bluesky local accounts (no verified flag on those platforms).
A += [
("reading", "local-fediverse", None, [
 ("@readingchronicle@mastodon.social", "Reading Chronicle", "mastodon", "News for Reading", 800, "2022-11", None),
 ("readingfc.bsky.social", "Reading FC Supporters' Trust", "bluesky", "STAR: the supporters' trust of Reading FC", 2300, "2023-10", None),
 ("@readingcyclists@mastodon.org.uk", "Reading Cycle Campaign", "mastodon", "Campaigning for safer cycling in Reading", 450, "2022-12", None),
]),
("norwich", "local-fediverse", None, [
 ("norwichcity.bsky.social", "Norwich City FC Fans", "bluesky", "Fan account. Not affiliated with the club.", 1500, "2024-02", None),
 ("@norwichcyclists@mastodon.social", "Norwich Cycling Campaign", "mastodon", "Norwich Cycling Campaign", 300, "2022-11", None),
 ("norwich.bsky.social", "Norwich", "bluesky", "Photos of the Fine City", 900, "2023-09", None),
]),
]

# Official accounts themselves (never flagged).
A += [("official", "official", None, [
 ("@SwindonCouncil", "Swindon Borough Council", "x", "Official account of Swindon Borough Council", 40000, "2009-06", True),
 ("@ReadingCouncil", "Reading Borough Council", "x", "Official account of Reading Borough Council", 35000, "2009-08", True),
 ("@derbycc", "Derby City Council", "x", "Official account of Derby City Council", 60000, "2009-04", True),
 ("@NorwichCC", "Norwich City Council", "x", "Official account of Norwich City Council", 30000, "2009-05", True),
 ("@StockportMBC", "Stockport Council", "x", "Official account of Stockport Council", 36000, "2009-07", True),
 ("@KirkleesCouncil", "Kirklees Council", "x", "Official account of Kirklees Council", 52000, "2009-03", True),
 ("swindon.gov.uk", "Swindon Borough Council", "bluesky", "Official", 2100, "2024-11", None),
])]

# ---------------------------------------------------------------- accounts: impersonations
def fake(council, cls, rows):
    A.append((council, cls, C[council][0], rows))

fake("swindon", "name-suffix", [
 ("@sbc_vote2026", "SwindonBoroughCouncilElections", "x", "Register, postal votes and polling day info", 12, "2026-04", False),
 ("@swindon_polls", "Swindon Borough Council Elections", "x", "Election updates", 40, "2026-03", False),
 ("@SwindonInfo26", "SwindonCouncilInfo", "x", "Official election information", 5, "2026-04", False),
 ("@swindonvotes", "Swindon Council Elections Info", "x", "", 33, "2026-04", True),
])
fake("reading", "name-suffix", [
 ("@rbc_elections", "ReadingBoroughCouncilElections", "x", "Voting in Reading: everything you need", 21, "2026-03", False),
 ("@readingpolls", "Reading Council Elections", "x", "Polling day news", 8, "2026-04", False),
 ("@ReadingVoteInfo", "ReadingCouncilVoteInfo", "x", "", 2, "2026-04", False),
 ("@rbc_info", "Reading Borough Council Info", "x", "Latest from the council", 77, "2026-02", True),
])
fake("derby", "name-suffix", [
 ("@derby_elections", "DerbyCityCouncilElections", "x", "Elections in Derby", 19, "2026-04", False),
 ("@dcc_vote", "Derby City Council Voting", "x", "How to vote on 7 May", 3, "2026-04", False),
 ("@DerbyCCinfo", "DerbyCCElectionInfo", "x", "", 11, "2026-04", False),
])
fake("norwich", "name-suffix", [
 ("@norwich_ro", "NorwichCityCouncilElections", "x", "", 9, "2026-04", False),
 ("@ncc_polling", "Norwich City Council Polling Info", "x", "Polling station updates", 25, "2026-04", False),
 ("@NorwichVotes2026", "Norwich City Council Elections Team", "x", "Your vote, your city", 14, "2026-03", True),
])
fake("stockport", "name-suffix", [
 ("@stockport_vote", "StockportCouncilElections", "x", "", 6, "2026-04", False),
 ("@smbc_elections", "Stockport Council Election Updates", "x", "Updates on the local elections", 31, "2026-04", False),
 ("@StockportInfo", "StockportCouncilInfo", "x", "Information line", 2, "2026-04", False),
])
fake("kirklees", "name-suffix", [
 ("@kirklees_ballot", "KirkleesCouncilElections", "x", "", 4, "2026-04", False),
 ("@KCvotes", "Kirklees Council Elections Info", "x", "Election information for Kirklees residents", 18, "2026-04", False),
 ("@kirkleesregister", "KirkleesCouncilRegister", "x", "Register to vote", 7, "2026-03", False),
])

fake("swindon", "insertion", [
 ("@Swindonn_Council", "Swindonn Borough Council", "x", "", 14, "2026-04", False),
 ("@SwiindonCouncil", "Swiindon Council", "x", "Council news", 3, "2026-04", False),
 ("@SwindomCouncil", "Swindom Borough Council", "x", "", 22, "2026-03", False),
])
fake("reading", "insertion", [
 ("@ReaddingCouncil", "Readding Borough Council", "x", "", 9, "2026-04", False),
 ("@Readiing_BC", "Readiing Council", "x", "Official", 1, "2026-04", False),
 ("@ReadingCounciI", "Reaading Borough Council", "x", "", 5, "2026-04", False),
])
fake("derby", "insertion", [
 ("@derbbycc", "Derbby City Council", "x", "", 4, "2026-04", False),
 ("@derrbycc", "Derrby City Council", "x", "Elections 2026", 16, "2026-03", False),
 ("@derby_cc_", "Deerby City Council", "x", "", 2, "2026-04", False),
])
fake("norwich", "insertion", [
 ("@NorwicchCC", "Norwicch City Council", "x", "", 6, "2026-04", False),
 ("@Norrwich_CC", "Norrwich City Council", "x", "", 11, "2026-04", False),
 ("@NorwichhCC", "Norwichh City Council", "x", "City news", 8, "2026-04", False),
])
fake("stockport", "insertion", [
 ("@StockpportMBC", "Stockpport Council", "x", "", 3, "2026-04", False),
 ("@Stocckport", "Stocckport Council", "x", "", 1, "2026-04", False),
 ("@StockportMBCC", "Stockporrt Council", "x", "", 9, "2026-04", False),
])
fake("kirklees", "insertion", [
 ("@KirkkleesCouncil", "Kirkklees Council", "x", "", 4, "2026-04", False),
 ("@KirkleessCouncil", "Kirkleess Council", "x", "", 2, "2026-04", False),
 ("@Kirklleescouncil", "Kirkllees Council", "x", "News and updates", 13, "2026-04", False),
])

fake("swindon", "compressed", [
 ("@SwindonBC", "SwindonBC", "x", "", 7, "2026-04", False),
 ("@SBCouncil_", "Swindon BC", "x", "Council updates", 20, "2026-04", False),
 ("@swindonboroughcouncil", "", "instagram", "", 50, "2026-03", None),
])
fake("reading", "compressed", [
 ("@ReadingBC", "Reading BC", "x", "", 15, "2026-04", False),
 ("@readingboroughcouncil", "", "tiktok", "", 3, "2026-04", None),
 ("@RdgBoroughCouncil", "ReadingBoroughCouncil", "x", "", 1, "2026-04", False),
])
fake("derby", "compressed", [
 ("@DerbyCityCouncil", "", "tiktok", "", 40, "2026-04", None),
 ("@derby_city_council", "DerbyCityCouncil", "instagram", "", 2, "2026-04", None),
 ("@DCCouncil", "Derby CC", "x", "Council info", 6, "2026-04", False),
])
fake("norwich", "compressed", [
 ("@norwichcitycouncil", "", "instagram", "", 31, "2026-04", None),
 ("@NCCouncil", "NorwichCityCouncil", "x", "", 4, "2026-03", False),
 ("@norwich.city.council", "Norwich CC", "threads", "", 12, "2026-04", None),
])
fake("stockport", "compressed", [
 ("@stockportcouncil", "", "tiktok", "", 9, "2026-04", None),
 ("@Stockport_MBC", "Stockport MBC", "x", "", 5, "2026-04", False),
 ("@stockportmetropolitanborough", "Stockport Metropolitan Borough Council", "x", "", 3, "2026-04", False),
])
fake("kirklees", "compressed", [
 ("@kirkleescouncil_", "KirkleesCouncil", "x", "", 2, "2026-04", False),
 ("@kirklees.council", "", "instagram", "", 17, "2026-04", None),
 ("@KirkleesMC", "Kirklees MC", "x", "", 6, "2026-04", False),
])

fake("swindon", "role-words", [
 ("@SwindonRO", "Swindon Returning Officer", "x", "", 11, "2026-04", False),
 ("@swindon_electoral", "Swindon Electoral Services", "x", "Postal votes, proxies and polling stations", 23, "2026-04", False),
 ("@swindonelectionsteam", "Swindon Elections Team", "x", "", 4, "2026-04", False),
 ("@someuser8812", "Electoral Services, Swindon", "x", "Contact us about your vote", 0, "2026-05", False),
])
fake("reading", "role-words", [
 ("@ReadingRO", "Returning Officer Reading", "x", "", 3, "2026-04", False),
 ("@rdg_electoral", "Reading Electoral Services", "x", "", 19, "2026-04", False),
 ("@ReadingElectionsTeam", "Reading Elections Team", "x", "Elections office", 8, "2026-04", False),
 ("@user0271", "Reading Electoral Registration Officer", "x", "", 0, "2026-05", False),
])
fake("derby", "role-words", [
 ("@DerbyRO", "Derby Returning Officer", "x", "", 5, "2026-04", False),
 ("@derby_elect", "Derby Electoral Services", "x", "", 14, "2026-04", False),
 ("@DerbyElectionsOffice", "Derby Elections Office", "x", "Everything about voting in Derby", 2, "2026-04", False),
])
fake("norwich", "role-words", [
 ("@NorwichRO", "Norwich Returning Officer", "x", "", 7, "2026-04", False),
 ("@norwich_electoral", "Norwich Electoral Services", "x", "", 9, "2026-04", False),
 ("@NorwichElections", "Norwich Elections Team", "x", "", 26, "2026-04", False),
])
fake("stockport", "role-words", [
 ("@StockportRO", "Stockport Returning Officer", "x", "", 1, "2026-04", False),
 ("@stockport_elect", "Stockport Electoral Services", "x", "", 4, "2026-04", False),
 ("@StockportElections", "Stockport Elections Team", "x", "Polling day updates", 12, "2026-04", False),
])
fake("kirklees", "role-words", [
 ("@KirkleesRO", "Kirklees Returning Officer", "x", "", 2, "2026-04", False),
 ("@kirklees_electoral", "Kirklees Electoral Services", "x", "", 8, "2026-04", False),
 ("@KirkleesElectionsTeam", "Kirklees Elections Team", "x", "", 5, "2026-04", False),
])

# A neutral name with a bio that claims the council or its officers.
fake("swindon", "bio-claim", [
 ("@sw_updates", "Swindon Updates", "x", "Official account of Swindon Borough Council elections team. DM us your polling card number.", 15, "2026-04", False),
 ("@vote_swindon", "Vote Swindon", "x", "The Returning Officer for Swindon Borough Council. Postal vote queries here.", 6, "2026-04", False),
])
fake("reading", "bio-claim", [
 ("@rdgvotes", "Reading Votes", "x", "Electoral services team at Reading Borough Council. Official.", 12, "2026-04", False),
 ("@rdg_polling", "Polling Day Reading", "x", "Run by Reading Borough Council's elections office", 3, "2026-04", False),
])
fake("derby", "bio-claim", [
 ("@derbyvoters", "Derby Voters", "x", "Official Derby City Council elections account", 4, "2026-04", False),
])
fake("norwich", "bio-claim", [
 ("@fine_city_votes", "Fine City Votes", "x", "We are Norwich City Council's electoral services. Questions about your vote? DM us.", 2, "2026-04", False),
])
fake("kirklees", "bio-claim", [
 ("@kirk_vote", "Kirklees Vote", "x", "Kirklees Council official elections channel", 9, "2026-04", False),
])

# ---------------------------------------------------------------- domains
def dom(council, cls, protected, names):
    D.append((council, cls, protected, names))

dom("swindon", "local", None, ["swindonadvertiser.co.uk", "swindononline.co.uk", "swindon-news.com", "swindontownfc.co.uk", "swindonlink.com", "swindon1055.com", "visitswindon.co.uk", "swindonwildcats.co.uk", "swindoncricketclub.co.uk", "swindonfoodbank.org.uk", "swindon.anglican.org", "swindondesigneroutlet.com", "wiltshire.gov.uk", "swindoninfo.co.uk", "swindonhelp.org", "swindonservices.co.uk", "swindontaxis.co.uk", "swindonrfc.co.uk"])
dom("reading", "local", None, ["readingchronicle.co.uk", "rdg.today", "readingfc.co.uk", "readingfestival.com", "reading.ac.uk", "reading-buses.co.uk", "readingminster.org.uk", "wokingham.gov.uk", "readingcivicsociety.org.uk", "readingonline.co.uk", "reading-news.com", "readinguk.org", "readingcc.co.uk", "readinghelp.org.uk", "readinginfo.co.uk", "readingmuseum.org.uk", "readingportal.co.uk", "readingservices.com"])
dom("derby", "local", None, ["derbytelegraph.co.uk", "dcfc.co.uk", "derbyshire.gov.uk", "derbyshireccc.com", "derbycathedral.org", "visitderby.co.uk", "derbymuseums.org", "derbytheatre.co.uk", "derby.ac.uk", "derbyhomes.org", "derbyonline.co.uk", "derby-news.com", "derbycity.com", "derbycitymission.org.uk", "derbyinfo.co.uk", "derbyuk.com", "derbyportal.com", "derbysupport.org"])
dom("norwich", "local", None, ["norwichcityfc.co.uk", "eveningnews24.co.uk", "edp24.co.uk", "norfolk.gov.uk", "cathedral.org.uk", "norwichbid.co.uk", "visitnorwich.co.uk", "norwichtheatre.org", "norwichonline.co.uk", "norwich-news.com", "norwichsociety.org.uk", "uea.ac.uk", "norwichlanes.co.uk", "norwichinfo.co.uk", "norwichcity.com", "norwichhelp.org", "norwichservices.co.uk", "southnorfolkandbroadland.gov.uk"])
dom("stockport", "local", None, ["stockportcounty.com", "stockport.nub.news", "stockportexpress.co.uk", "stockportplaza.co.uk", "stockporthomes.org", "stockportcricketclub.co.uk", "visitstockport.co.uk", "stockport.ac.uk", "stockport.nhs.uk", "stockportonline.co.uk", "stockport-news.com", "stockportinfo.co.uk", "stockporthelp.org", "stockportuk.com", "stockportsupport.co.uk", "manchester.gov.uk", "stockportcity.com"])
dom("kirklees", "local", None, ["examinerlive.co.uk", "htafc.com", "kirkleescollege.ac.uk", "kal.org.uk", "kirkleesonline.co.uk", "kirklees-news.com", "citizensadvicekirklees.org.uk", "calderdale.gov.uk", "dewsburyreporter.co.uk", "kirkleesinfo.co.uk", "kirkleesuk.com", "hud.ac.uk", "kirkleeshelp.org", "kirkleesservices.co.uk", "kirkleesmusicschool.co.uk", "kirkleestheatre.org.uk"])

def fakes(council, cls, names):
    D.append((council, cls, C[council][1], names))

for k, (_, d) in C.items():
    label = d.split(".")[0]
    fakes(k, "whole-script", [whole_script(label) + ".gov.uk", whole_script(label) + ".co.uk", whole_script(label) + ".uk"])
fakes("swindon", "insertion", ["swinddon.gov.uk", "swindonn.gov.uk", "swiindon.co.uk", "swwindon.uk"])
fakes("reading", "insertion", ["readding.gov.uk", "reaading.gov.uk", "readiing.co.uk", "rreading.uk"])
fakes("derby", "insertion", ["derrby.gov.uk", "derbby.gov.uk", "deerby.co.uk", "dderby.uk"])
fakes("norwich", "insertion", ["norwicch.gov.uk", "norrwich.gov.uk", "norwiich.co.uk", "norwichh.uk"])
fakes("stockport", "insertion", ["stockpport.gov.uk", "stocckport.gov.uk", "stockporrt.co.uk", "sstockport.uk"])
fakes("kirklees", "insertion", ["kirkleess.gov.uk", "kirkklees.gov.uk", "kirrklees.co.uk", "kirkllees.uk"])
fakes("swindon", "compressed", ["swindonboroughcouncil.co.uk", "swindonbc.uk", "swindon-bc.com", "swindoncouncil.org"])
fakes("reading", "compressed", ["readingboroughcouncil.com", "readingbc.co.uk", "reading-bc.org", "readingcouncil.uk"])
fakes("derby", "compressed", ["derbycitycouncil.com", "derbycc.co.uk", "derby-city-council.uk", "derbycouncil.org"])
fakes("norwich", "compressed", ["norwichcitycouncil.co.uk", "norwichcc.uk", "norwich-city-council.com", "norwichcouncil.org"])
fakes("stockport", "compressed", ["stockportcouncil.co.uk", "stockportmbc.com", "stockport-mbc.uk", "stockportmetropolitanboroughcouncil.co.uk"])
fakes("kirklees", "compressed", ["kirkleescouncil.co.uk", "kirklees-council.com", "kirkleesmc.uk", "kirkleesmbc.org"])
fakes("swindon", "role-words", ["swindon-returningofficer.co.uk", "swindonelectoralservices.com", "swindon-electionsteam.uk"])
fakes("reading", "role-words", ["reading-returning-officer.com", "readingelectoralservices.co.uk", "readingelectionsteam.org"])
fakes("derby", "role-words", ["derbyreturningofficer.co.uk", "derby-electoral-services.com", "derby-elections-office.uk"])
fakes("norwich", "role-words", ["norwich-returningofficer.uk", "norwichelectoralservices.org", "norwichelectionsteam.co.uk"])
fakes("stockport", "role-words", ["stockportreturningofficer.com", "stockport-electoralservices.co.uk", "stockportelectionsoffice.uk"])
fakes("kirklees", "role-words", ["kirklees-returning-officer.co.uk", "kirkleeselectoralservices.com", "kirklees-elections-team.uk"])
fakes("swindon", "gov-vote-words", ["swindon-gov.co.uk", "registertovote-swindon.co.uk", "swindonevote.com", "myswindonvote.uk", "swindon-login.com"])
fakes("reading", "gov-vote-words", ["readinggov.co.uk", "reading-registertovote.com", "reading-postalvote.uk", "readingvoterid.co.uk", "reading-secure-login.com"])
fakes("derby", "gov-vote-words", ["derby-govuk.com", "registertovotederby.co.uk", "derbyvotes.uk", "derby-voter-card.com", "derbylogin.co.uk"])
fakes("norwich", "gov-vote-words", ["norwichgov.uk", "norwich-register-to-vote.co.uk", "votenorwich.com", "norwich-pollingcard.uk", "norwichverify.com"])
fakes("stockport", "gov-vote-words", ["stockport-gov.com", "stockportregistertovote.uk", "stockport-ballot.co.uk", "stockportvoterauthority.com", "stockport-login.uk"])
fakes("kirklees", "gov-vote-words", ["kirkleesgov.co.uk", "registertovote-kirklees.com", "kirklees-vote.uk", "kirkleespostalvotes.co.uk", "kirklees-verify.com"])


def main():
    with open(os.path.join(HERE, "local-accounts.jsonl"), "w") as f:
        for council, cls, identity, rows in A:
            for i, (h, n, p, bio, fol, created, ver) in enumerate(rows):
                row = {"split": split_of(i), "class": cls, "council": council,
                       "identity": identity, "handle": h, "display_name": n or None,
                       "platform": p, "bio": bio or None, "followers": fol, "created": created}
                if ver is not None:
                    row["verified"] = ver
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    with open(os.path.join(HERE, "local-domains.jsonl"), "w") as f:
        for council, cls, protected, names in D:
            for i, d in enumerate(names):
                f.write(json.dumps({"split": split_of(i), "class": cls, "council": council,
                                    "domain": d, "protected": protected}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
