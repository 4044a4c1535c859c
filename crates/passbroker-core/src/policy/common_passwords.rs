//! The built-in list of common and breached passwords, for `blockCommonPasswords` and the NIST
//! profile's blocklist ([`super::eval::is_common_password`]).
//!
//! A few hundred of the passwords that top the public breach corpora and yearly "worst password"
//! lists (number and keyboard runs, names, sports teams, `password` and its leetspeak), plus
//! some longer ones that pass a 15-character minimum. Entries are already normalised
//! (NFKC, lowercase), so a password matches when its normalised form equals one exactly: the
//! check is case-insensitive, and `Password1` is caught through `password1`.

/// Normalised common passwords, 410 entries, no duplicates.
#[rustfmt::skip]
pub const COMMON_PASSWORDS: &[&str] = &[
    "123456", "password", "123456789", "12345678", "12345", "qwerty", "1234567", "111111", "1234567890", "123123",
    "abc123", "1234", "password1", "iloveyou", "1q2w3e4r", "000000", "qwerty123", "zaq12wsx", "dragon", "sunshine",
    "princess", "letmein", "654321", "monkey", "27653", "1qaz2wsx", "123321", "qwertyuiop", "superman", "asdfghjkl",
    "trustno1", "football", "baseball", "welcome", "121212", "666666", "987654321", "7777777", "555555", "888888",
    "112233", "123123123", "1111", "11111111", "123654", "159753", "696969", "1q2w3e", "1q2w3e4r5t", "qazwsx",
    "master", "hello", "freedom", "whatever", "shadow", "michael", "jennifer", "jordan", "hunter", "hunter2",
    "ranger", "buster", "soccer", "harley", "batman", "andrew", "tigger", "charlie", "robert", "thomas",
    "hockey", "daniel", "starwars", "george", "computer", "michelle", "jessica", "pepper", "zxcvbnm", "zxcvbn",
    "asdfgh", "asdf", "131313", "mustang", "access", "love", "cheese", "amanda", "summer", "ashley",
    "nicole", "chelsea", "biteme", "matthew", "yankees", "123qwe", "dallas", "austin", "thunder", "taylor",
    "matrix", "killer", "ginger", "joshua", "maggie", "ninja", "flower", "purple", "orange", "banana",
    "apple", "cookie", "chocolate", "butterfly", "angel", "angels", "jesus", "blessed", "family", "forever",
    "friends", "liverpool", "arsenal", "manchester", "barcelona", "realmadrid", "juventus", "samsung", "google", "facebook",
    "linkedin", "myspace", "yahoo", "microsoft", "windows", "internet", "secret", "money", "silver", "golden",
    "diamond", "corvette", "ferrari", "mercedes", "porsche", "hello1", "hello123", "helloworld", "qwerty12", "zxcvbnm1",
    "sunshine1", "princess1", "monkey1", "football1", "charlie1", "michael1", "superman1", "dragon1", "shadow1", "master1",
    "baseball1", "letmein1", "abc123456", "password!", "password12", "password123", "passw0rd", "p@ssw0rd", "p@ssword", "pass",
    "pass123", "pass1234", "passwort", "motdepasse", "contraseña", "senha", "parola", "passord", "salasana", "wachtwoord",
    "haslo", "admin", "admin123", "administrator", "root", "toor", "guest", "user", "test", "test123",
    "testing", "default", "changeme", "secret123", "login", "welcome1", "welcome123", "iloveyou1", "loveme", "lovely",
    "loveyou", "spiderman", "basketball", "jordan23", "222222", "333333", "444444", "999999", "11111", "0000",
    "00000000", "1212", "1122", "123", "12341234", "12344321", "147258369", "147258", "159357", "1111111",
    "101010", "789456123", "789456", "456789", "741852963", "102030", "5201314", "520520", "123654789", "0123456789",
    "098765", "0987654321", "54321", "2222", "69696969", "246810", "13579", "1234554321", "12121212", "11223344",
    "qwerty1", "qwert", "qwertz", "azerty", "asdf1234", "1q2w3e4r5t6y", "zaq1zaq1", "qazwsxedc", "1qazxsw2", "qweasd",
    "qweasdzxc", "qwe123", "123qweasd", "asd123", "qwer1234", "q1w2e3r4", "q1w2e3r4t5", "a1b2c3", "a1b2c3d4", "abcd1234",
    "abcdef", "abcdefg", "abc", "abcd", "aaaaaa", "aaaaaaaa", "aa123456", "a123456", "123abc", "qwertyu",
    "poiuytrewq", "mnbvcxz", "1234qwer", "147852", "789654", "qaz123", "!qaz2wsx", "1qaz!qaz", "summer2023", "summer2024",
    "summer2025", "winter2023", "winter2024", "winter2025", "spring2024", "spring2025", "autumn2024", "fall2024", "welcome2024", "welcome2025",
    "password2023", "password2024", "password2025", "qwertyuiopasdfghjkl", "qwertyuiopasdfghjklzxcvbnm", "1q2w3e4r5t6y7u8i9o0p", "passwordpassword", "123456789012345", "1234567890123456", "12345678901234567890",
    "iloveyouiloveyou", "aaaaaaaaaaaaaaa", "abcdefghijklmnop", "abcdefghijklmnopqrstuvwxyz", "correcthorsebatterystaple", "qwertyqwertyqwerty", "zaq12wsxcde34rfv", "1qaz2wsx3edc4rfv", "passwordpassword1", "letmeinletmein",
    "administrator123", "princess123", "monkey123", "dragon123", "football123", "iloveyou123", "qwerty1234", "qwerty12345", "1234567891", "12345678910",
    "superman123", "batman123", "killer123", "charlie123", "michael123", "shadow123", "master123", "sunshine123", "freedom123", "whatever1",
    "soccer1", "hockey1", "jordan1", "hunter1", "ashley1", "jessica1", "nicole1", "daniel1", "thomas1", "robert1",
    "anthony", "joseph", "william", "richard", "david", "james", "john", "mike", "johnny", "peter",
    "maverick", "merlin", "phoenix", "falcon", "eagle", "eagles", "tiger", "tigers", "lakers", "cowboys",
    "steelers", "packers", "patriots", "redsox", "bulldog", "snoopy", "pokemon", "pikachu", "naruto", "minecraft",
    "fortnite", "roblox", "zelda", "mario", "cocacola", "pepsi", "whiskey", "vodka", "beer", "coffee",
    "hannah", "jasmine", "jennifer1", "justin", "lauren", "london", "paris", "berlin", "newyork", "chicago",
    "toronto", "sydney", "canada", "america", "england", "mexico", "brazil", "india", "china", "russia",
    "asdfasdf", "qwerqwer", "zxczxc", "asdasd", "qweqwe", "zxcasd", "1q1q1q", "1a2b3c", "2wsx3edc", "3edc4rfv",
];

#[cfg(test)]
mod tests {
    use super::COMMON_PASSWORDS;
    use crate::policy::eval::normalize;
    use std::collections::HashSet;

    #[test]
    fn entries_are_normalised_and_unique() {
        let mut seen = HashSet::new();
        for entry in COMMON_PASSWORDS {
            assert_eq!(
                normalize(entry),
                *entry,
                "entry {entry:?} is not normalised"
            );
            assert!(seen.insert(*entry), "duplicate entry {entry:?}");
        }
        assert!(COMMON_PASSWORDS.len() >= 300);
    }
}
