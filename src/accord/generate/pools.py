"""Name pools the generator draws from once; every record then picks by index."""

from __future__ import annotations

FIRST_NAMES = (
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard Susan Joseph "
    "Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty Anthony Sandra Mark Margaret "
    "Donald Ashley Steven Kimberly Andrew Emily Paul Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Melissa "
    "George Deborah Timothy Stephanie Ronald Rebecca Jason Sharon Edward Laura Jeffrey Cynthia Ryan Dorothy Jacob "
    "Amy Gary Kathleen Nicholas Angela Eric Shirley Jonathan Emma Stephen Brenda Larry Pamela Justin Nicole Scott "
    "Anna Brandon Samantha Benjamin Katherine Samuel Christine Gregory Debra Alexander Rachel Patrick Carolyn Frank "
    "Janet Raymond Maria Jack Olivia Dennis Heather Jerry Helen Tyler Catherine Aaron Diane Jose Julie Adam Victoria "
    "Nathan Joyce Henry Lauren Zachary Kelly Douglas Christina Peter Ruth Kyle Joan Noah Virginia Ethan Judith "
    "Jeremy Evelyn Christian Hannah Walter Andrea Keith Megan Austin Cheryl Roger Jacqueline Terry Madison Sean "
    "Teresa Gerald Abigail Carl Sophia Dylan Martha Harold Sara Jordan Gloria Jesse Janice Bryan Kathryn Lawrence "
    "Ann Arthur Isabella Gabriel Judy Bruce Charlotte Logan Julia Billy Grace Joe Amber Alan Alice Juan Jean Elijah "
    "Denise Willie Frances Albert Danielle Wayne Marilyn Randy Natalie Mason Beverly Vincent Diana Liam Brittany "
    "Roy Theresa Bobby Kayla Caleb Alexis Bradley Doris Russell Lori Lucas Tiffany Hiro Yuki Priya Arjun Wei Mei "
    "Lars Ingrid Sven Astrid Pierre Amelie Lukas Lena Mateo Sofia Omar Layla Kofi Amara Diego Camila Rafael Ana"
).split()

LAST_NAMES = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson "
    "Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis "
    "Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera "
    "Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart "
    "Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim "
    "Cox Ward Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo "
    "Sanders Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell Coleman Butler "
    "Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan Patterson Alexander Hamilton Graham Reynolds "
    "Griffin Wallace Moreno West Cole Hayes Bryant Herrera Gibson Ellis Tran Medina Aguilar Stevens Murray Ford "
    "Castro Marshall Owens Harrison Fernandez McDonald Woods Washington Kennedy Wells Vargas Henry Chen Freeman "
    "Webb Tucker Guzman Burns Crawford Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon "
    "Munoz Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd Rose Stone Salazar Fox Warren Mills Meyer Rice "
    "Schmidt Garza Daniels Ferguson Nichols Stephens Soto Weaver Ryan Gardner Payne Grant Dunn Kelley Spencer "
    "Hawkins Arnold Pierce Vazquez Hansen Peters Santos Hart Bradley Knight Elliott Cunningham Duncan Armstrong "
    "Tanaka Sato Suzuki Sharma Gupta Wang Li Zhang Larsen Nielsen Dubois Laurent Muller Schneider Rossi Bianchi"
).split()

COMPANY_HEADS = (
    "Acme Apex Nova Blue Red Green Silver Golden Iron Bright Clear Swift True North South East West Summit Peak "
    "Vertex Orbit Quantum Pixel Cloud Data Signal Vector Matrix Prime Core Fusion Atlas Zenith Horizon Harbor "
    "Cedar Maple Oak Pine River Lake Ocean Stone Granite Copper Cobalt Crimson Indigo Violet Amber Jade Onyx "
    "Falcon Eagle Hawk Lion Tiger Wolf Fox Bear Otter Raven Phoenix Titan Polar Solar Lunar Stellar Cosmic "
    "Alpine Coastal Urban Metro Global United Pioneer Frontier Liberty Heritage Legacy Evergreen Keystone Beacon"
).split()

COMPANY_TAILS = (
    "Systems Labs Dynamics Networks Solutions Analytics Software Technologies Logistics Health Energy Capital "
    "Partners Robotics Foods Media Works Industries Devices Security Bio Pharma Motors Finance Insurance Retail "
    "Consulting Cloud Data Apps Grid Link Forge Point Wave Stream Path Bridge Scale Sense Shift Spark Sphere "
    "Logic Mind Flow Line Craft Hub Base Gate Port Ware Metrics Ventures Holdings Group Designs Materials Chemicals"
).split()

COMPANY_THIRDS = (
    "Worldwide International America Europe Pacific Digital Advanced Applied Integrated Strategic Precision "
    "Modern Smart Open Rapid Secure Total Prime Next First"
).split()

LEGAL_SUFFIXES = ("Inc", "Inc.", "LLC", "Ltd", "Corp", "Corporation", "GmbH", "AG", "S.A.", "Co.", "PLC", "")

TLDS = ("com", "com", "com", "io", "co", "net", "de", "co.uk", "ai")

INDUSTRIES = (
    "Software",
    "Financial Services",
    "Healthcare",
    "Manufacturing",
    "Retail",
    "Education",
    "Telecommunications",
    "Energy",
    "Media",
    "Transportation",
    "Government",
    "Consulting",
)
INDUSTRY_WEIGHTS = (0.22, 0.14, 0.11, 0.12, 0.08, 0.05, 0.05, 0.05, 0.05, 0.05, 0.03, 0.05)

COUNTRIES = ("United States", "United Kingdom", "Germany", "France", "Canada", "Japan", "Australia", "India", "Brazil")
COUNTRY_WEIGHTS = (0.45, 0.1, 0.1, 0.06, 0.07, 0.05, 0.05, 0.07, 0.05)
CITIES = ("New York", "London", "Berlin", "Paris", "Toronto", "Tokyo", "Sydney", "Bangalore", "Sao Paulo")

FREE_MAIL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "proton.me")

SENIORITY_TITLES = (
    ("Executive", ("CEO", "CTO", "CFO", "CMO", "VP of Marketing", "VP of Engineering", "VP of Sales", "COO")),
    ("Director", ("Director of Marketing", "Director of IT", "Director of Operations", "Director of Engineering")),
    ("Manager", ("Marketing Manager", "IT Manager", "Product Manager", "Engineering Manager", "Sales Manager")),
    (
        "Individual Contributor",
        ("Software Engineer", "Data Analyst", "Marketing Specialist", "Account Executive", "Consultant", "Developer"),
    ),
)
SENIORITY_WEIGHTS = (0.1, 0.15, 0.3, 0.45)

ABM_TIERS = ("Tier 1", "Tier 2", "Tier 3", "")
"""Account custom field ABM_Tier__c; empty: not in the ABM programme."""
PRODUCTS = ("Analytics", "Cloud", "Security", "Support")
"""Account custom field Products__c, a Salesforce multi-select picklist (`Analytics;Cloud`)."""
PERSONAS = ("Champion", "Economic Buyer", "Technical Evaluator", "End User", "")
"""Contact custom field Persona__c."""
LEAD_SOURCES = ("Web", "Webinar", "Trade Show", "Partner Referral", "Advertisement", "Cold Call", "Content Syndication")
LEAD_STATUSES = ("Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted")

OPPORTUNITY_STAGES = (
    ("Prospecting", 10, False, False),
    ("Qualification", 20, False, False),
    ("Needs Analysis", 30, False, False),
    ("Proposal/Price Quote", 60, False, False),
    ("Negotiation/Review", 80, False, False),
    ("Closed Won", 100, True, True),
    ("Closed Lost", 0, True, False),
)
STAGE_WEIGHTS = (0.15, 0.12, 0.1, 0.12, 0.08, 0.23, 0.2)

CONTACT_ROLES = (
    "Decision Maker",
    "Economic Buyer",
    "Evaluator",
    "Influencer",
    "Technical Buyer",
    "Business User",
    "Executive Sponsor",
)

CAMPAIGN_TYPES = ("Email", "Webinar", "Conference", "Advertisement", "Direct Mail", "Content")
CAMPAIGN_MEMBER_STATUSES = ("Sent", "Responded", "Registered", "Attended")

WEB_PATHS = (
    "/",
    "/product",
    "/product/features",
    "/product/integrations",
    "/pricing",
    "/pricing/enterprise",
    "/customers",
    "/docs/getting-started",
    "/contact-sales",
    "/careers",
    "/blog/b2b-data-strategy",
    "/blog/account-based-marketing",
    "/blog/identity-resolution",
    "/blog/lead-scoring-guide",
    "/webinars/q3-roadmap",
)
WEB_PATH_WEIGHTS = (0.2, 0.1, 0.08, 0.05, 0.07, 0.03, 0.06, 0.06, 0.04, 0.03, 0.07, 0.07, 0.05, 0.05, 0.04)
WEBSITE = "https://www.accord-example.com"

LIST_NAMES = (
    "Newsletter Subscribers",
    "Event Attendees 2026",
    "Product Updates",
    "Partner Contacts",
    "Trial Sign-ups",
    "Customer Advisory Board",
    "Webinar Registrants",
    "Nurture - Early Stage",
    "Nurture - Late Stage",
    "Do Not Call Review",
)
